"""Rendering HTML pages: templates, language, CSRF cookie and the browser security headers."""

from __future__ import annotations

import gettext
import secrets
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from idp.csrf import COOKIE as CSRF_COOKIE
from idp.csrf import CsrfTokens
from idp.i18n import LOCALES, RTL, format_day, load_translations, pick_locale

LANG_COOKIE = "idp_lang"
LANGUAGE_NAMES = {"fa": "فارسی", "en": "English"}


def security_headers(script_nonce: str | None = None, frame_origins: list[str] | None = None) -> dict[str, str]:
    script = f"'self' 'nonce-{script_nonce}'" if script_nonce else "'self'"
    # Only the signed-out page embeds frames: the clients' front-channel logout URLs.
    frames = f"frame-src {' '.join(frame_origins)}; " if frame_origins else ""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self'; img-src 'self' data:; script-src {script}; {frames}"
            "form-action *; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


class Pages:
    def __init__(self, *, csrf: CsrfTokens, default_locale: str, secure_cookies: bool) -> None:
        self._env = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        self._translations: dict[str, gettext.NullTranslations] = load_translations()
        self.csrf = csrf
        self.default_locale = default_locale
        self.secure_cookies = secure_cookies

    def locale(self, request: Request, ui_locales: str | None = None) -> str:
        chosen = request.query_params.get("lang")
        if chosen in LOCALES:
            return str(chosen)
        return pick_locale(ui_locales, request.cookies.get(LANG_COOKIE), self.default_locale)

    def gettext(self, locale: str) -> gettext.NullTranslations:
        return self._translations.get(locale, self._translations["en"])

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        """The browser's CSRF cookie value and whether it must be (re)set."""
        value = request.cookies.get(CSRF_COOKIE)
        if value and 16 <= len(value) <= 64:
            return value, False
        return CsrfTokens.new_cookie_value(), True

    def check_csrf(self, request: Request, form_token: str | None) -> bool:
        return self.csrf.check(request.cookies.get(CSRF_COOKIE), form_token)

    def _lang_links(
        self, request: Request, query: list[tuple[str, str]] | None
    ) -> list[tuple[str, str, str]]:
        """Links that show the same page in each language. After a POST the page says which GET
        query reproduces it (e.g. the login transaction); without one there are no links."""
        if query is None:
            if request.method != "GET":
                return []
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return [
            (code, LANGUAGE_NAMES[code], f"{request.url.path}?{urlencode([*query, ('lang', code)])}")
            for code in LOCALES
        ]

    def render(
        self, request: Request, template: str, locale: str, *, status_code: int = 200,
        script_nonce: str | None = None, lang_query: list[tuple[str, str]] | None = None,
        frame_origins: list[str] | None = None, **context: object,
    ) -> Response:
        csrf_value, set_csrf = self.csrf_cookie(request)
        tr = self.gettext(locale)
        html = self._env.get_template(template).render(
            _=tr.gettext, lang=locale, dir="rtl" if locale in RTL else "ltr",
            csrf_token=self.csrf.form_token(csrf_value), lang_links=self._lang_links(request, lang_query),
            nonce=script_nonce, format_day=lambda day: format_day(day, locale), **context,
        )
        response = HTMLResponse(html, status_code=status_code, headers=security_headers(script_nonce, frame_origins))
        if set_csrf:
            response.set_cookie(
                CSRF_COOKIE, csrf_value, httponly=True, secure=self.secure_cookies, samesite="strict", path="/"
            )
        if request.query_params.get("lang") in LOCALES:
            response.set_cookie(
                LANG_COOKIE, locale, max_age=365 * 24 * 3600, httponly=True,
                secure=self.secure_cookies, samesite="lax", path="/",
            )
        return response

    def error(
        self, request: Request, title: str, message: str, *, status_code: int = 400, locale: str | None = None,
        detail: str | None = None,
    ) -> Response:
        locale = locale or self.locale(request)
        tr = self.gettext(locale)
        return self.render(
            request, "error.html", locale, status_code=status_code,
            title=tr.gettext(title), message=tr.gettext(message), detail=detail,
        )

    def link_expired(self, request: Request) -> Response:
        """A sign-in link (login transaction) that expired or never existed."""
        return self.error(request, "This sign-in link has expired",
                          "Go back to the service you were using and start again.")

    def form_post(self, request: Request, locale: str, action: str, params: list[tuple[str, str]]) -> Response:
        """OAuth 2.0 Form Post Response Mode: the browser POSTs the response to the client."""
        nonce = secrets.token_urlsafe(16)
        return self.render(request, "form_post.html", locale, script_nonce=nonce, action=action, params=params)
