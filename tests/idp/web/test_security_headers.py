"""Cookies and browser security headers over HTTP: `__Host-` cookies, HSTS and nosniff on every
response on an https issuer, plain development settings on http loopback, and forms that may
submit only to us (plus the client an answer is meant for)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from idp.settings import Settings, UnsafeSetting
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from idp.web.pages import origin_source
from levels.national_code import make_national_code
from levels.people import new_person
from tests.idp.conftest import (
    CSRF_RE,
    ISSUER,
    PASSWORD,
    REDIRECT_URI,
    Idp,
    _build,
    _settings,
    pkce_pair,
    sign_in,
    submit_login,
)
from tests.idp.flows import user_tokens

HSTS = "max-age=63072000; includeSubDomains"
LOOPBACK = "http://127.0.0.1:8000"
SIGNED_OUT = "https://portal.example/signed-out"


@pytest.fixture
def loopback_idp(tmp_path: Path) -> Iterator[Idp]:
    """The development setup: a plain-http issuer on loopback."""
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"issuer": LOOPBACK})
    idp = _build(settings, MemoryStore())
    idp.browser = TestClient(idp.browser.app, base_url=LOOPBACK, follow_redirects=False)
    yield idp
    idp.services.engine.dispose()


def _authorize_url(**extra: str) -> str:
    _, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", **extra,
    })


def _set_cookies(response: httpx.Response) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (value, {attribute (lower case): value}) for each Set-Cookie of a response."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        attrs = {}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            attrs[key.lower()] = val
        found[name] = (value, attrs)
    return found


def _sign_in_setting_cookies(idp: Idp) -> dict[str, tuple[str, dict[str, str]]]:
    """Every cookie the app sets on the way through a sign-in (in English)."""
    cookies: dict[str, tuple[str, dict[str, str]]] = {}
    r = idp.browser.get(_authorize_url())
    page = idp.browser.get(r.headers["location"] + "&lang=en")
    cookies.update(_set_cookies(page))
    done = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert done.status_code == 303, done.text
    cookies.update(_set_cookies(done))
    return cookies


def test_every_cookie_is_host_only_and_secure_on_https(idp: Idp) -> None:
    cookies = _sign_in_setting_cookies(idp)
    assert set(cookies) == {"__Host-idp_csrf", "__Host-idp_lang", "__Host-idp_session", "__Host-idp_device"}
    for name, (_, attrs) in cookies.items():
        assert "secure" in attrs and "httponly" in attrs, name
        assert attrs.get("path") == "/" and "domain" not in attrs, name
    assert cookies["__Host-idp_session"][1]["samesite"].lower() == "lax"
    assert cookies["__Host-idp_csrf"][1]["samesite"].lower() == "strict"
    assert cookies["__Host-idp_device"][1]["samesite"].lower() == "strict"
    # The app reads them back under those names: the browser is signed in, in English.
    account = idp.browser.get("/account")
    assert account.status_code == 200 and 'lang="en"' in account.text


def test_signing_out_deletes_the_host_session_cookie(idp: Idp) -> None:
    _sign_in_setting_cookies(idp)
    page = idp.browser.get("/end_session?client_id=portal")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = idp.browser.post("/end_session", data={"client_id": "portal", "confirm": "yes",
                                               "csrf_token": csrf.group(1)})
    assert r.status_code == 200
    value, attrs = _set_cookies(r)["__Host-idp_session"]
    # A browser only accepts the deletion of a __Host- cookie with the same Secure and Path=/.
    assert value in ("", '""') and attrs.get("max-age") == "0"
    assert "secure" in attrs and attrs.get("path") == "/" and "domain" not in attrs
    assert "__Host-idp_session" not in idp.browser.cookies
    assert idp.browser.get("/account").status_code == 303


def test_cookies_are_plain_on_http_loopback(loopback_idp: Idp) -> None:
    cookies = _sign_in_setting_cookies(loopback_idp)
    assert set(cookies) == {"idp_csrf", "idp_lang", "idp_session", "idp_device"}
    for name, (_, attrs) in cookies.items():
        assert "secure" not in attrs and "httponly" in attrs, name
        assert attrs.get("path") == "/" and "domain" not in attrs, name
    assert loopback_idp.browser.get("/account").status_code == 200


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
        "redirect": browser.get(_authorize_url()),
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


def _form_action(r: httpx.Response) -> str:
    directives = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    return directives["form-action"]


def test_forms_submit_only_to_us_outside_a_sign_in(idp: Idp) -> None:
    assert _form_action(idp.browser.get("/register")) == "'self'"
    sign_in(idp.browser, _authorize_url(), idp.national_code)
    assert _form_action(idp.browser.get("/account/sessions")) == "'self'"
    assert _form_action(idp.browser.get("/end_session?client_id=portal")) == "'self'"


def test_sign_in_forms_may_continue_to_the_client(idp: Idp) -> None:
    """Browsers apply form-action to the redirects after a submission too: the sign-in form's
    answer ends at the client's redirect URI, so its origin (and only that) is allowed."""
    r = idp.browser.get(_authorize_url())
    assert _form_action(idp.browser.get(r.headers["location"])) == "'self' https://portal.example"


def test_the_form_post_page_may_post_to_the_client(idp: Idp) -> None:
    r = sign_in(idp.browser, _authorize_url(response_mode="form_post"), idp.national_code)
    assert r.status_code == 200 and f'action="{REDIRECT_URI}"' in r.text
    assert _form_action(r) == "'self' https://portal.example"


def test_the_sign_out_confirmation_may_continue_to_the_post_logout_uri(idp: Idp) -> None:
    """A sign-out request whose id_token_hint is for someone else asks first; once confirmed it
    redirects to the client's post-logout URI, so the confirmation form may lead there."""
    hint = user_tokens(idp, scope="openid")["id_token"]
    other = make_national_code("555000111")
    idp.services.people.add(new_person(other, "Reza", "Moradi", birthdate=date(1980, 5, 5), mobile=None,
                                       mobile_verified=False, now=datetime.now(UTC)))
    idp.services.people.set_password_hash(
        idp.services.people.get_by_national_code(other).id,  # type: ignore[union-attr]
        idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    browser = idp.new_browser()
    assert sign_in(browser, _authorize_url(), other).status_code == 302
    query = urlencode({"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT})
    page = browser.get(f"/end_session?{query}")
    assert page.status_code == 200 and _form_action(page) == "'self' https://portal.example"
    csrf = CSRF_RE.search(page.text)
    assert csrf
    done = browser.post("/end_session", data={"id_token_hint": hint, "post_logout_redirect_uri": SIGNED_OUT,
                                              "confirm": "yes", "csrf_token": csrf.group(1)})
    assert done.status_code == 302 and done.headers["location"] == SIGNED_OUT


@pytest.mark.parametrize(("uri", "source"), [
    ("https://portal.example/callback?x=1", "https://portal.example"),
    ("https://Portal.Example:8443/cb", "https://portal.example:8443"),
    ("http://127.0.0.1:51004/cb", "http://127.0.0.1:51004"),
    ("http://[::1]:8080/cb", "http://[::1]:8080"),
    ("ir.gov.tax.app:/oauth", "ir.gov.tax.app:"),
    ("https:/no-host", None),  # would be "https:": every https site
    ("javascript:alert(1)", None),
    ("https://portal.example;script-src *", None),
    ("https://a b.example/cb", None),
])
def test_form_action_names_only_an_exact_origin(uri: str, source: str | None) -> None:
    assert origin_source(uri) == source


def test_cookies_cannot_be_made_insecure_on_an_https_issuer() -> None:
    with pytest.raises(UnsafeSetting, match="IDP_COOKIE_SECURE"):
        Settings(issuer=ISSUER, cookie_secure=False)
    assert Settings(issuer="http://127.0.0.1:8000", cookie_secure=False).secure_cookies is False
