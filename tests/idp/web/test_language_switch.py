"""Every page has a language switch (`idp.web.pages.Pages._lang_links`), also a page answered to a
form's POST: its links lead to the GET page that shows the same form, keeping the pending sign-in
(`tx`) or the pending reset, never what was typed."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import httpx
from starlette.testclient import TestClient

from tests.idp.account.helpers import page_text, portal_url, sign_in_at
from tests.idp.conftest import CSRF_RE, TX_RE, Idp

LANG_NAV_RE = re.compile(r'<nav class="lang"[^>]*>(.*?)</nav>', re.S)
TYPED = "s3cret-typed-value"


def switch_links(r: httpx.Response) -> dict[str, str]:
    """The language switch's links by language, as the page shows them."""
    nav = LANG_NAV_RE.search(r.text)
    assert nav, f"no language switch on {r.request.method} {r.request.url.path}"
    return {lang: unescape(href) for href, lang in re.findall(r'<a href="([^"]+)" lang="(\w+)"', nav.group(1))}


def check_switch(browser: TestClient, r: httpx.Response, path: str, keep: dict[str, str]) -> None:
    """Both links go to `path` with exactly `keep` (and `lang`), hold nothing typed, and open a page."""
    links = switch_links(r)
    assert set(links) == {"fa", "en"}
    for lang, href in links.items():
        parts = urlsplit(href)
        assert parts.path == path, href
        assert dict(parse_qsl(parts.query)) == {**keep, "lang": lang}, href
        assert TYPED not in href
        shown = browser.get(href)
        assert shown.status_code == 200, (href, shown.status_code)
        assert f'lang="{lang}"' in shown.text


def test_a_sign_in_error_switches_to_the_same_sign_in(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    login = browser.get(browser.get(portal_url()).headers["location"])
    csrf, tx = CSRF_RE.search(login.text), TX_RE.search(login.text)
    assert csrf and tx
    r = browser.post("/login", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                     "national_code": sqlite_idp.national_code, "password": TYPED})
    assert r.status_code in (400, 401)
    check_switch(browser, r, "/login", {"tx": tx.group(1)})


def test_a_registration_error_switches_to_the_registration_form(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    page = browser.get("/register?lang=en")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = browser.post("/register", data={"csrf_token": csrf.group(1), "tx": "", "national_code": "123",
                                        "birthdate": "1369/01/01", "mobile": "09121234567", "password": TYPED})
    assert r.status_code == 400
    check_switch(browser, r, "/register", {})
    # Within a sign-in, the sign-in is kept.
    tx = browser.get(portal_url()).headers["location"].split("tx=")[1]
    r = browser.post("/register", data={"csrf_token": csrf.group(1), "tx": tx, "national_code": "123",
                                        "birthdate": "1369/01/01", "mobile": "09121234567", "password": TYPED})
    assert r.status_code == 400
    check_switch(browser, r, "/register", {"tx": tx})


def test_an_activation_error_switches_to_the_activation_form(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    page = browser.get("/activate?lang=fa")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = browser.post("/activate", data={"csrf_token": csrf.group(1), "tx": "", "national_code": TYPED,
                                        "code": "12345678"})
    assert r.status_code == 400
    check_switch(browser, r, "/activate", {})
    # The English page, reached through the switch, shows the form empty: nothing typed followed.
    english = browser.get(switch_links(r)["en"])
    assert "Activate your account" in page_text(english.text) and "12345678" not in english.text


def test_an_expired_form_answered_with_an_error_page_still_switches(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    browser.get("/recover")
    r = browser.post("/recover", data={"national_code": sqlite_idp.national_code, "birthdate": TYPED})
    assert r.status_code == 400
    check_switch(browser, r, "/recover", {})


def test_an_account_form_switches_to_its_account_page(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    sign_in_at(browser, sqlite_idp.national_code, page="/account/security")
    page = browser.get("/account/security?lang=en")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = browser.post("/account/password", data={"csrf_token": csrf.group(1), "current_password": TYPED,
                                                "new_password": TYPED})
    assert r.status_code in (400, 401, 403, 429)
    check_switch(browser, r, "/account/security", {})
