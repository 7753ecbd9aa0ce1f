"""Rendering HTML pages: templates, language, CSRF tokens and the pages' security headers."""

from __future__ import annotations

import gettext
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from idp.web.cookies import Cookies
from idp.web.csrf import CsrfTokens, Purpose
from idp.web.i18n import LOCALES, RTL, format_day, load_translations, localize_page_digits, pick_locale

if TYPE_CHECKING:
    from clients.models import Client
    from idp.sessions.transactions import LoginTransaction

LANGUAGE_NAMES = {"fa": "فارسی", "en": "English"}
# What a CSP source expression may hold; anything else in a registered URI is left out of the policy.
_SOURCE = re.compile(r"^[a-z][a-z0-9+.-]*:(//[a-z0-9.\-]+(:[0-9]{1,5})?|//\[[0-9a-f:.]+\](:[0-9]{1,5})?)?$")
# Schemes whose bare form would allow far more than one client (any https site, inline data).
_NEVER_BARE = frozenset({"http", "https", "ws", "wss", "data", "blob", "filesystem", "javascript"})


def origin_source(url: str) -> str | None:
    """The CSP source for the origin of `url` (a client's registered redirect URI): scheme, host
    and port, never a path (CSP would apply a path to the first request only, not to redirects);
    a bare scheme for URIs without a host (native apps' private-use schemes)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None:
        if parts.scheme.lower() in _NEVER_BARE:
            return None
        source = f"{parts.scheme}:"
    else:
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        source = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    source = source.lower()
    return source if parts.scheme and _SOURCE.match(source) else None


@dataclass(frozen=True, slots=True)
class Brand:
    """What every page's header and footer show besides words (settings `IDP_BRAND_LOGO_URL`,
    `IDP_HELP_URL`, `IDP_PRIVACY_URL`, `IDP_CONTACT_URL`, checked there): the emblem, and the
    footer's links, each shown only when set."""

    logo_url: str = ""
    help_url: str | None = None
    privacy_url: str | None = None
    contact_url: str | None = None

    def footer_links(self) -> list[tuple[str, str, str]]:
        """(name, message id of the label, href) of each link that is set."""
        links = [("help", "Help", self.help_url), ("privacy", "Privacy", self.privacy_url),
                 ("contact", "Contact us", self.contact_url)]
        return [(name, label, url) for name, label, url in links if url]

    def image_origins(self) -> list[str]:
        """Where the emblem comes from, when not from us: the CSP img-src the pages need for it."""
        if self.logo_url.startswith("https://"):
            source = origin_source(self.logo_url)
            return [source] if source else []
        return []


def security_headers(
    script_nonce: str | None = None, frame_origins: list[str] | None = None, form_targets: Iterable[str] = (),
    image_origins: Iterable[str] = (),
) -> dict[str, str]:
    """The headers of every HTML page (nosniff and HSTS come from `idp.web.security_headers` for all
    responses). Forms may submit only to us, plus the origins in `form_targets`: browsers apply
    form-action to every redirect that follows a submission too (Chromium does), so a form whose
    answer redirects to a client must name that client's origin. Fonts come from us only (our
    Vazirmatn); images from us, data: URLs, and the configured emblem's origin."""
    script = f"'self' 'nonce-{script_nonce}'" if script_nonce else "'self'"
    images = " ".join(["'self'", "data:", *image_origins])
    # Only the signed-out page embeds frames: the clients' front-channel logout URLs.
    frames = f"frame-src {' '.join(frame_origins)}; " if frame_origins else ""
    targets = sorted({s for s in map(origin_source, form_targets) if s})
    form_action = " ".join(["'self'", *targets])
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self'; font-src 'self'; img-src {images}; script-src {script}; {frames}"
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def client_targets(tx: LoginTransaction | None) -> list[str]:
    """Where the answer to a sign-in form may end up: the transaction's redirect URI (validated
    against the client's registration before the transaction was started)."""
    uri = tx.get("redirect_uri") if tx is not None else None
    return [uri] if uri else []


def unbroken(text: str) -> Markup:
    """A date or a moment that never breaks across lines (its time never wraps alone)."""
    return Markup('<span class="nowrap">{}</span>').format(text)


class Pages:
    def __init__(self, *, csrf: CsrfTokens, cookies: Cookies, default_locale: str, brand: Brand | None = None) -> None:
        self._env = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        self._translations: dict[str, gettext.NullTranslations] = load_translations()
        self.csrf = csrf
        self.cookies = cookies
        self.default_locale = default_locale
        self.brand = brand or Brand()

    def locale(self, request: Request, ui_locales: str | None = None) -> str:
        """The page language: the language switch (`lang`), else OIDC `ui_locales` (the sign-in's,
        given by the caller, else the address's own: a service's link to any page, such as
        `/account?ui_locales=en`), else the person's earlier choice, else the default."""
        chosen = request.query_params.get("lang")
        if chosen in LOCALES:
            return str(chosen)
        if ui_locales is None:
            ui_locales = request.query_params.get("ui_locales")
        return pick_locale(ui_locales, self.cookies.lang.read(request), self.default_locale)

    def chosen_in_address(self, request: Request) -> str | None:
        """The language the address itself asks for (`lang`, else `ui_locales`), if any: it is
        remembered, so the pages this one links to stay in it."""
        chosen = request.query_params.get("lang")
        if chosen in LOCALES:
            return str(chosen)
        picked = pick_locale(request.query_params.get("ui_locales"), None, "")
        return picked or None

    def remember_locale(self, request: Request, response: Response) -> None:
        chosen = self.chosen_in_address(request)
        if chosen is not None:
            self.cookies.lang.set(response, chosen)

    def gettext(self, locale: str) -> gettext.NullTranslations:
        return self._translations.get(locale, self._translations["en"])

    def _csrf_cookie(self, request: Request) -> str | None:
        value = self.cookies.csrf.read(request)
        return value if value and 16 <= len(value) <= 64 else None

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        """The browser's CSRF cookie value and whether it must be (re)set."""
        value = self._csrf_cookie(request)
        return (value, False) if value else (CsrfTokens.new_cookie_value(), True)

    def _csrf_holder(self, request: Request, csrf_cookie: str | None) -> tuple[Purpose, str | None]:
        """What the browser's forms are bound to: its SSO session when it has one (the session
        cookie, whether or not the session is still alive: only this browser knows it), else its
        CSRF cookie. A form shown before signing in or out therefore expires with that change."""
        session = self.cookies.session.read(request)
        return ("session", session) if session else ("browser", csrf_cookie)

    def _csrf_token(self, request: Request, csrf_cookie: str, transaction: LoginTransaction | None = None) -> str:
        purpose, holder = self._csrf_holder(request, csrf_cookie)
        return self.csrf.form_token(purpose, holder or csrf_cookie, transaction.id if transaction else "")

    def check_csrf(self, request: Request, form_token: str | None, transaction: LoginTransaction | None = None) -> bool:
        """Whether a posted form's token was issued to this browser's session (or, signed out, to
        its CSRF cookie) and, for sign-in forms, to this transaction. The one check every form uses."""
        purpose, holder = self._csrf_holder(request, self._csrf_cookie(request))
        return self.csrf.check(purpose, holder, transaction.id if transaction else "", form_token)

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
        frame_origins: list[str] | None = None, transaction: LoginTransaction | None = None,
        form_targets: Iterable[str] = (), client: Client | None = None, **context: object,
    ) -> Response:
        """`transaction`: the sign-in the page's forms continue; their CSRF token is bound to it
        and their answer may redirect to its client. `form_targets`: other URLs the forms' answers
        may end up at (CSP form-action). `client`: the service the page is about, shown by its name
        in the page's language, with its logo and links to its own pages (`_client.html`)."""
        images = self.brand.image_origins()
        if client is not None:
            context.setdefault("client_name", client.display_name(locale))
            logo = origin_source(client.logo_uri) if client.logo_uri else None
            images = [*images, logo] if logo else images
        csrf_value, set_csrf = self.csrf_cookie(request)
        tr = self.gettext(locale)
        html = self._env.get_template(template).render(
            _=tr.gettext, lang=locale, dir="rtl" if locale in RTL else "ltr",
            csrf_token=self._csrf_token(request, csrf_value, transaction),
            lang_links=self._lang_links(request, lang_query),
            brand=self.brand, footer_links=self.brand.footer_links(),
            nonce=script_nonce, format_day=lambda day: unbroken(format_day(day, locale)), client=client,
            **context,
        )
        # One place decides the digits a page shows: the page's language (idp.web.i18n).
        html = localize_page_digits(html, locale)
        headers = security_headers(script_nonce, frame_origins, [*form_targets, *client_targets(transaction)], images)
        response = HTMLResponse(html, status_code=status_code, headers=headers)
        if set_csrf:
            self.cookies.csrf.set(response, csrf_value)
        if self.chosen_in_address(request) == locale:
            self.cookies.lang.set(response, locale)
        return response

    def error(
        self, request: Request, title: str, message: str, *, status_code: int = 400, locale: str | None = None,
        detail: str | None = None,
    ) -> Response:
        locale = locale or self.locale(request)
        tr = self.gettext(locale)
        return self.render(
            request, "error.html", locale, status_code=status_code,
            # gettext("") is the catalogue's header, never a message.
            title=tr.gettext(title), message=tr.gettext(message) if message else "", detail=detail,
        )

    def link_expired(self, request: Request) -> Response:
        """A sign-in link (login transaction) that expired or never existed."""
        return self.error(request, "This sign-in link has expired",
                          "Go back to the service you were using and start again.")

    def form_post(self, request: Request, locale: str, action: str, params: list[tuple[str, str]]) -> Response:
        """OAuth 2.0 Form Post Response Mode: the browser POSTs the response to the client."""
        nonce = secrets.token_urlsafe(16)
        return self.render(request, "form_post.html", locale, script_nonce=nonce, form_targets=[action],
                           action=action, params=params)
