"""Delivering an authorization response (success or error) to a *validated* redirect URI.

Carries `iss` (RFC 9207) and `state`, by redirect (query) or by OAuth 2.0 Form Post Response Mode.
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.web.pages import Pages

RESPONSE_MODES = ("query", "form_post")


def deliver(
    pages: Pages, request: Request, *, redirect_uri: str, params: list[tuple[str, str]], state: str | None,
    issuer: str, response_mode: str | None, locale: str,
) -> Response:
    full = list(params)
    if state:
        full.append(("state", state))
    full.append(("iss", issuer))
    if response_mode == "form_post":
        return pages.form_post(request, locale, redirect_uri, full)
    return RedirectResponse(add_params_to_uri(redirect_uri, full), status_code=302,
                            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
