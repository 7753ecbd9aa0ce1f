"""Headers on every response, whoever produced it (`idp.web.security_headers`): nosniff always,
HSTS on an https issuer only."""

from __future__ import annotations

import httpx

from tests.idp.conftest import Idp
from tests.idp.web.conftest import authorize_path

HSTS = "max-age=63072000; includeSubDomains"


def _responses(idp: Idp) -> dict[str, httpx.Response]:
    """One response of each kind the app gives."""
    browser = idp.browser
    return {
        "discovery": browser.get("/.well-known/openid-configuration"),
        "discovery HEAD": browser.head("/.well-known/openid-configuration"),
        "jwks": browser.get("/jwks"),
        "token error": browser.post("/token", data={"grant_type": "authorization_code", "code": "x",
                                                   "client_id": "portal", "client_secret": "wrong"}),
        "introspection error": browser.post("/introspect", data={"token": "x"}),
        "userinfo error": browser.get("/userinfo"),
        "redirect": browser.get(authorize_path()),
        "static file": browser.get("/static/idp.css"),
        "not found": browser.get("/no-such-page"),
        "page": browser.get("/register"),
        "malformed": browser.get("/authorize?client_id=portal&client_id=other"),
    }


def test_every_response_is_nosniff_and_hsts_on_https(idp: Idp) -> None:
    responses = _responses(idp)
    statuses = {kind: r.status_code for kind, r in responses.items()}
    assert statuses["discovery"] == statuses["jwks"] == statuses["static file"] == statuses["page"] == 200
    assert statuses["token error"] in (400, 401) and statuses["not found"] == 404
    assert statuses["redirect"] == 302
    for kind, r in responses.items():
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], kind
        assert r.headers.get_list("strict-transport-security") == [HSTS], kind


def test_no_hsts_on_http_loopback(loopback_idp: Idp) -> None:
    for kind, r in _responses(loopback_idp).items():
        assert "strict-transport-security" not in r.headers, kind
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], kind
