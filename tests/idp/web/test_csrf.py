"""CSRF tokens over HTTP: a token only counts in the session or sign-in transaction it was issued
for, and whatever the browser sends as a token, the answer is the form's own, never a 500."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, PASSWORD, REDIRECT_URI, TX_RE, Idp, pkce_pair, submit_login

FORM_EXPIRED = "Your form expired. Please try again."


def _authorize_url(**extra: str) -> str:
    _, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "en", **extra,
    })


def _browser(idp: Idp) -> TestClient:
    browser = idp.new_browser()
    browser.cookies.set(idp.services.cookies.lang.name, "en", domain="idp.test", path="/")
    return browser


def _login_page(browser: TestClient) -> httpx.Response:
    r = browser.get(_authorize_url())
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    page = browser.get(r.headers["location"])
    assert page.status_code == 200
    return page


def _sign_in(browser: TestClient, national_code: str) -> None:
    r = browser.get("/account/sessions")
    assert r.status_code == 303
    done = submit_login(browser, browser.get(r.headers["location"]).text, national_code, PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account/sessions", done.text


def _token(page: httpx.Response) -> str:
    found = CSRF_RE.search(page.text)
    assert found, page.text
    return found.group(1)


def _signed_in(browser: TestClient) -> bool:
    r = browser.get("/account/sessions")
    assert r.status_code in (200, 303)
    return r.status_code == 200


def _attacker(idp: Idp) -> TestClient:
    """Someone with their own account, signed in in their own browser."""
    code = make_national_code("555000111")
    person = new_person(code, "Mallory", "Karimi", birthdate=date(1985, 1, 1), mobile="+989351112233",
                        mobile_verified=True, now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    browser = _browser(idp)
    _sign_in(browser, code)
    return browser


def _plant(idp: Idp, victim: TestClient, attacker: TestClient) -> None:
    """The attacker's CSRF cookie, set in the victim's browser (as a sibling subdomain could,
    where browsers did not enforce the __Host- prefix)."""
    name = idp.services.cookies.csrf.name
    value = attacker.cookies.get(name)
    assert value
    victim.cookies.delete(name)
    victim.cookies.set(name, value, domain="idp.test", path="/")


@pytest.mark.parametrize("source", ["signed-in page", "signed-out page"])
def test_a_cookie_and_token_from_the_attackers_browser_cannot_end_the_victims_sessions(
    idp: Idp, source: str,
) -> None:
    attacker = _attacker(idp)
    if source == "signed-out page":
        attacker.cookies.delete(idp.services.cookies.session.name)
        page = attacker.get("/register")
    else:
        page = attacker.get("/account/sessions")
    assert page.status_code == 200
    planted_token = _token(page)

    victim = _browser(idp)
    _sign_in(victim, idp.national_code)
    _plant(idp, victim, attacker)
    r = victim.post("/account/sessions/end-all", data={"csrf_token": planted_token})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    assert _signed_in(victim)
    assert len(idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC))) == 1

    # The victim's own form, from the victim's own page, still works.
    own = _token(victim.get("/account/sessions"))
    done = victim.post("/account/sessions/end-all", data={"csrf_token": own, "confirm": "yes"})
    assert done.status_code == 200 and not _signed_in(victim)


def test_a_session_token_does_not_outlive_the_session(idp: Idp) -> None:
    browser = _browser(idp)
    _sign_in(browser, idp.national_code)
    token = _token(browser.get("/account/sessions"))
    assert browser.post("/account/sessions/end-all", data={"csrf_token": token, "confirm": "yes"}).status_code == 200
    _sign_in(browser, idp.national_code)  # a new session in the same browser, same CSRF cookie
    r = browser.post("/account/sessions/end-all", data={"csrf_token": token})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    assert _signed_in(browser)


def test_a_login_token_from_another_transaction_is_refused(idp: Idp) -> None:
    browser = _browser(idp)
    first, second = _login_page(browser), _login_page(browser)
    first_tx, second_tx = TX_RE.search(first.text), TX_RE.search(second.text)
    assert first_tx and second_tx and first_tx.group(1) != second_tx.group(1)

    crossed = browser.post("/login", data={
        "csrf_token": _token(first), "tx": second_tx.group(1),
        "national_code": idp.national_code, "password": PASSWORD})
    assert crossed.status_code == 400 and FORM_EXPIRED in crossed.text
    assert idp.services.cookies.session.name not in browser.cookies

    done = submit_login(browser, second.text, idp.national_code, PASSWORD)
    assert done.status_code == 303 and done.headers["location"].startswith("/authorize/resume?tx=")


def test_a_login_token_from_another_browser_is_refused(idp: Idp) -> None:
    """Login CSRF: the attacker's own sign-in form, submitted from the victim's browser."""
    attacker, victim = _browser(idp), _browser(idp)
    page = _login_page(attacker)
    tx = TX_RE.search(page.text)
    assert tx
    victim.get("/register")  # the victim's browser has its own CSRF cookie
    r = victim.post("/login", data={"csrf_token": _token(page), "tx": tx.group(1),
                                    "national_code": idp.national_code, "password": PASSWORD})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    assert idp.services.cookies.session.name not in victim.cookies


NOT_ASCII = ["ژ" * 64, "é", "\u200f" + "a" * 63]


@pytest.mark.parametrize("token", NOT_ASCII)
def test_a_non_ascii_token_is_a_form_expired_page(idp: Idp, token: str) -> None:
    # Signed out: the sign-in form and registration.
    browser = _browser(idp)
    login = _login_page(browser)
    tx = TX_RE.search(login.text)
    assert tx
    r = browser.post("/login", data={"csrf_token": token, "tx": tx.group(1),
                                     "national_code": idp.national_code, "password": PASSWORD})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    browser.get("/register")
    r = browser.post("/register", data={"csrf_token": token, "national_code": "0012345679"})
    assert r.status_code == 400 and FORM_EXPIRED in r.text

    # Signed in: an account form and the sign-out confirmation.
    _sign_in(browser, idp.national_code)
    r = browser.post("/account/sessions/end-all", data={"csrf_token": token})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    r = browser.post("/end_session", data={"client_id": "portal", "confirm": "yes", "csrf_token": token})
    assert r.status_code == 200 and "Do you want to sign out" in r.text  # asked again, not signed out
    assert _signed_in(browser)


def test_invalid_utf8_in_the_token_is_a_form_expired_page(idp: Idp) -> None:
    browser = _browser(idp)
    _sign_in(browser, idp.national_code)
    r = browser.post("/account/sessions/end-all", content=b"csrf_token=%FF%FE%ED%A0%80",
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and FORM_EXPIRED in r.text
    assert _signed_in(browser)

