"""Every cookie over HTTP (`idp.web.cookies`): `__Host-`, Secure and host-only on an https issuer,
plain names on http loopback (development), deleted under the name and attributes it was set with."""

from __future__ import annotations

import httpx

from tests.idp.conftest import CSRF_RE, PASSWORD, Idp, submit_login
from tests.idp.web.conftest import authorize_path


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
    r = idp.browser.get(authorize_path())
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
