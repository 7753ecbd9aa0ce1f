"""Steps shared by the account page tests: a browser that signs in to its account, submits the
account forms with its CSRF token and reads what the pages show."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlencode

import httpx
from starlette.testclient import TestClient

from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, REDIRECT_URI, Idp, pkce_pair, submit_login

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
NEW_PASSWORD = "violet tractor lantern"


def browser_as(idp: Idp, user_agent: str) -> TestClient:
    browser = idp.new_browser()
    browser.headers["user-agent"] = user_agent
    return browser


def sign_in_at(browser: TestClient, national_code: str, page: str = "/account", password: str = PASSWORD) -> None:
    """Open an account page signed out, sign in on the page it sends to, and come back to it."""
    r = browser.get(page)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?tx=")
    login = browser.get(r.headers["location"])
    done = submit_login(browser, login.text, national_code, password)
    assert done.status_code == 303 and done.headers["location"] == page, done.text


def is_signed_in(browser: TestClient) -> bool:
    r = browser.get("/account")
    assert r.status_code in (200, 303)
    return r.status_code == 200


def post_form(browser: TestClient, path: str, **fields: str) -> httpx.Response:
    """Submit an account form as the page would: with this browser's CSRF token."""
    page = browser.get("/account/security")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text)
    assert csrf
    return browser.post(path, data={"csrf_token": csrf.group(1), **fields})


def page_text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def sessions_listed(browser: TestClient) -> list[tuple[str, str, bool]]:
    """(sid, device, this device?) for each session on the "Where you're signed in" page."""
    page = browser.get("/account/sessions?lang=en")
    assert page.status_code == 200
    rows = re.findall(r'<li class="row session( current)?">(.*?)</li>', page.text, re.S)
    found = []
    for current, body in rows:
        sid = re.search(r'name="sid" value="([^"]+)"', body)
        device = re.search(r'<strong class="device">([^<]+)</strong>', body)
        assert sid and device
        found.append((sid.group(1), device.group(1), bool(current) and "This device" in body))
    return found


def portal_url() -> str:
    _, challenge = pkce_pair()
    return f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"})


def other_person(idp: Idp, code: str = "004433221", **fields: object) -> str:
    national_code = make_national_code(code)
    person = new_person(national_code, "Reza", "Karimi", now=datetime.now(UTC), **fields)  # type: ignore[arg-type]
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    return national_code
