"""Password recovery over HTTP: a code to the proven mobile plus the birth date, no enumeration."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_login

NEW_PASSWORD = "quiet harbour lamp"


def _authorize_url(challenge: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "st", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
              "ui_locales": "en", **extra}
    return f"{ISSUER}/authorize?{urlencode(params)}"


def _outbox(idp: Idp) -> list[dict[str, str]]:
    path = idp.services.settings.sms_outbox
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _start(browser: TestClient, national_code: str, birthdate: str, tx: str = "") -> httpx.Response:
    page = browser.get(f"/recover?tx={tx}" if tx else "/recover")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = browser.post("/recover", data={"csrf_token": csrf.group(1), "tx": tx, "national_code": national_code,
                                       "birthdate": birthdate})
    assert r.status_code == 303 and r.headers["location"].startswith("/recover/verify?id="), r.text
    return r


def _finish(browser: TestClient, location: str, code: str, password: str = NEW_PASSWORD) -> httpx.Response:
    page = browser.get(location)
    csrf = CSRF_RE.search(page.text)
    assert page.status_code == 200 and csrf
    pending_id = parse_qs(urlparse(location).query)["id"][0]
    return browser.post("/recover/verify", data={
        "csrf_token": csrf.group(1), "id": pending_id, "code": code, "password": password})


def _without_ids(html: str) -> str:
    """The page with its per-request values (pending id, CSRF token) blanked out."""
    return re.sub(r'(id=|name="(?:id|csrf_token)" value=")[^"&]+', r"\1…", html)


def _claims(idp: Idp, location: str, verifier: str) -> dict[str, object]:
    code = parse_qs(urlparse(location).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return dict(jwt.decode(r.json()["id_token"], KeySet.import_key_set(idp.browser.get("/jwks").json())).claims)


def _login_tx(browser: TestClient) -> str:
    _, challenge = pkce_pair()
    r = browser.get(_authorize_url(challenge))
    assert r.headers["location"].startswith("/login?tx=")
    return r.headers["location"]


def test_reset_with_code_and_birth_date_replaces_the_password_and_ends_other_sessions(idp: Idp) -> None:
    other = idp.new_browser()
    _, challenge = pkce_pair()
    assert "code=" in sign_in(other, _authorize_url(challenge), idp.national_code).headers["location"]

    verifier, challenge = pkce_pair()
    tx = idp.browser.get(_authorize_url(challenge)).headers["location"].split("tx=")[1]
    # The birth date is 1990-03-21, typed here in the Persian calendar with Persian digits.
    start = _start(idp.browser, idp.national_code, "۱۳۶۹/۰۱/۰۱", tx)
    assert _outbox(idp)[-1]["to"] == "+989121234567"
    done = _finish(idp.browser, start.headers["location"], idp.last_sms_code())
    assert done.status_code == 303 and done.headers["location"] == f"/authorize/resume?tx={tx}"

    # The new session holds only the factor just proven: the code, not the password just chosen.
    back = idp.browser.get(done.headers["location"])
    assert back.status_code == 302 and back.headers["location"].startswith(REDIRECT_URI + "?code=")
    assert _claims(idp, back.headers["location"], verifier)["amr"] == ["sms"]

    # The other browser's session has ended.
    _, challenge = pkce_pair()
    r = other.get(_authorize_url(challenge, prompt="none"))
    assert r.status_code == 302 and "error=login_required" in r.headers["location"]

    events = idp.services.audit.recent(kind="password.reset")
    assert [e.person_id for e in events] == [idp.person_id]
    notice = _outbox(idp)[-1]
    assert notice["to"] == "+989121234567" and "password was changed" in notice["text"]
    assert not re.search(r"\d{6}", notice["text"])

    fresh = idp.new_browser()
    page = fresh.get(_login_tx(fresh))
    assert submit_login(fresh, page.text, idp.national_code, PASSWORD).status_code == 400
    assert submit_login(fresh, page.text, idp.national_code, NEW_PASSWORD).status_code == 303


def test_wrong_birth_date_gets_the_same_pages_and_no_message(idp: Idp) -> None:
    right = _start(idp.browser, idp.national_code, "1369/01/01")
    sent = len(_outbox(idp))
    # Whoever guesses the birth date does so from elsewhere (one place would soon be made to wait).
    wrong_browser = TestClient(idp.browser.app, base_url=ISSUER, follow_redirects=False,
                               client=("198.51.100.9", 50000))
    wrong_browser.portal = idp.portal  # the provider's one event loop
    wrong = _start(wrong_browser, idp.national_code, "1369/01/02")
    assert len(_outbox(idp)) == sent
    right_page = idp.browser.get(right.headers["location"])
    wrong_page = wrong_browser.get(wrong.headers["location"])
    assert _without_ids(right_page.text) == _without_ids(wrong_page.text)
    assert "+98912***4567" not in right_page.text
    # A guessed code is refused with the same words, and asking again too soon gets the same answer.
    right_try = _finish(idp.browser, right.headers["location"], "000000")
    wrong_try = _finish(wrong_browser, wrong.headers["location"], "000000")
    assert right_try.status_code == wrong_try.status_code == 400
    assert _without_ids(right_try.text) == _without_ids(wrong_try.text)
    for browser, start in ((idp.browser, right), (wrong_browser, wrong)):
        pending_id = parse_qs(urlparse(start.headers["location"]).query)["id"][0]
        csrf = CSRF_RE.search(browser.get(start.headers["location"]).text).group(1)  # type: ignore[union-attr]
        again = browser.post("/recover/verify", data={"csrf_token": csrf, "id": pending_id, "resend": "1"})
        assert again.status_code == 429 and "ثانیه صبر کنید" in again.text
        assert 50 <= int(again.headers["Retry-After"]) <= 60
    assert len(_outbox(idp)) == sent
    assert idp.services.audit.recent(kind="password.reset") == []


def test_a_second_reset_moments_later_uses_the_code_already_sent(idp: Idp) -> None:
    first = _start(idp.browser, idp.national_code, "1990-03-21")
    code = idp.last_sms_code()
    sent = len(_outbox(idp))
    laptop = idp.new_browser()
    second = _start(laptop, idp.national_code, "1990-03-21")
    assert len(_outbox(idp)) == sent
    done = _finish(laptop, second.headers["location"], code)
    assert done.status_code == 303
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), NEW_PASSWORD)
    # Used once, the code is gone for the first reset too.
    assert _finish(idp.browser, first.headers["location"], code, "another fine passphrase").status_code == 400


def test_unknown_national_code_gets_the_same_page(sqlite_idp: Idp) -> None:
    from levels.iranian_input import make_national_code

    r = _start(sqlite_idp.browser, make_national_code("987654321"), "1369/01/01")
    page = sqlite_idp.browser.get(r.headers["location"])
    assert "اگر این اطلاعات با حسابی مطابقت داشته باشد" in page.text
    assert _outbox(sqlite_idp) == []


def test_wrong_code_is_refused_and_guessing_is_limited(sqlite_idp: Idp) -> None:
    start = _start(sqlite_idp.browser, sqlite_idp.national_code, "1990-03-21")
    right = sqlite_idp.last_sms_code()
    wrong = "000000" if right != "000000" else "111111"
    statuses = [_finish(sqlite_idp.browser, start.headers["location"], wrong).status_code for _ in range(5)]
    # Starting counts as one try: two wrong codes, then a wait (growing until guessing stops).
    assert statuses == [400] * 2 + [429] * 3
    refused = _finish(sqlite_idp.browser, start.headers["location"], right)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    hash_ = sqlite_idp.services.people.password_hash(sqlite_idp.person_id)
    assert sqlite_idp.services.passwords.verify(hash_, PASSWORD)


def test_new_password_must_not_be_common_and_the_code_survives_the_mistake(sqlite_idp: Idp) -> None:
    start = _start(sqlite_idp.browser, sqlite_idp.national_code, "1369/01/01")
    code = sqlite_idp.last_sms_code()
    weak = _finish(sqlite_idp.browser, start.headers["location"], code, password="password123")
    assert weak.status_code == 400 and "این گذرواژه از رایج‌ترین گذرواژه‌هاست" in weak.text
    done = _finish(sqlite_idp.browser, start.headers["location"], code)
    assert done.status_code == 303 and done.headers["location"] == "/account"


def test_csrf_token_is_required(sqlite_idp: Idp) -> None:
    sqlite_idp.browser.get("/recover")
    r = sqlite_idp.browser.post("/recover", data={"national_code": sqlite_idp.national_code,
                                                  "birthdate": "1369/01/01"})
    assert r.status_code == 400 and _outbox(sqlite_idp) == []


def test_imported_account_sets_its_first_password_through_the_code(sqlite_idp: Idp) -> None:
    from datetime import UTC, date, datetime

    from levels.iranian_input import make_national_code
    from levels.people import new_person

    code = make_national_code("004455667")
    person = new_person(code, "Reza", "Karimi", birthdate=date(1985, 6, 1), mobile="+989351112233",
                        mobile_verified=False, now=datetime.now(UTC))
    sqlite_idp.services.people.add(person)  # as `idp people import` leaves it: no password, mobile unproven
    r = _start(sqlite_idp.browser, code, "1985-06-01")
    assert _outbox(sqlite_idp)[-1]["to"] == "+989351112233"
    done = _finish(sqlite_idp.browser, r.headers["location"], sqlite_idp.last_sms_code())
    assert done.status_code == 303
    after = sqlite_idp.services.people.get(person.id)
    assert after is not None and after.mobile_verified
    _, challenge = pkce_pair()
    signed_in = sign_in(sqlite_idp.new_browser(), _authorize_url(challenge), code, NEW_PASSWORD)
    assert "code=" in signed_in.headers["location"]
