"""Account activation over HTTP: the code texted after an account is made at a counter office sets
the first password on /activate; wrong, expired and used-up codes, unknown national codes, missing
CSRF tokens and junk all get plain answers, never a 500, and never tell which part was wrong."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from idp.account.activate import issue_activation
from levels.activation_sql import ActivationCodeRow
from levels.iranian_input import make_national_code, to_persian_digits
from levels.people import Person, new_person
from tests.idp.account.helpers import page_text
from tests.idp.conftest import CSRF_RE, ISSUER, LOAD_BALANCER, PASSWORD, Idp

NEW_PASSWORD = "quiet harbour lamp"
NEWCOMER_MOBILE = "+989127654321"
ERROR_SUMMARY_RE = re.compile(r'<div class="error error-summary"[^>]*>.*?</div>', re.S)


def newcomer(idp: Idp, prefix: str = "556677889") -> Person:
    """A person as the office leaves them: proven in person, a proven mobile, no password."""
    person = new_person(make_national_code(prefix), "Maryam", "Rahimi", mobile=NEWCOMER_MOBILE,
                        mobile_verified=True, now=datetime.now(UTC))
    idp.services.people.add(person)
    return person


def issue(idp: Idp, person: Person) -> str:
    issued, _ = issue_activation(idp.services, person, actor="office")
    return issued.code


def outbox(idp: Idp) -> list[dict[str, str]]:
    path = idp.services.settings.sms_outbox
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def from_address(idp: Idp, address: str) -> TestClient:
    """A browser whose requests reach the provider through its load balancer from `address`."""
    browser = TestClient(idp.browser.app, base_url=ISSUER, follow_redirects=False, client=(LOAD_BALANCER, 50000),
                         headers={"X-Forwarded-For": address})
    browser.portal = idp.portal
    return browser


def submit_code(browser: TestClient, national_code: str, code: str, *, lang: str = "en",
                tx: str = "") -> httpx.Response:
    page = browser.get(f"/activate?lang={lang}" + (f"&tx={tx}" if tx else ""))
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text)
    assert csrf
    return browser.post("/activate", data={"csrf_token": csrf.group(1), "tx": tx, "national_code": national_code,
                                           "code": code})


def submit_password(browser: TestClient, location: str, password: str = NEW_PASSWORD) -> httpx.Response:
    page = browser.get(location)
    assert page.status_code == 200, page.text
    csrf = CSRF_RE.search(page.text)
    pending = re.search(r'name="id" value="([^"]+)"', page.text)
    assert csrf and pending
    return browser.post("/activate/password", data={"csrf_token": csrf.group(1), "id": pending.group(1),
                                                    "password": password})


def _wrong(code: str) -> str:
    return "12345678" if code != "12345678" else "87654321"


def _blank_ids(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def test_a_person_activates_their_account_and_is_signed_in(idp: Idp) -> None:
    person = newcomer(idp)
    code = issue(idp, person)
    browser = idp.new_browser()
    # Typed as a Persian keyboard writes it, with a space in the middle.
    typed = to_persian_digits(f"{code[:4]} {code[4:]}")
    r = submit_code(browser, to_persian_digits(person.national_code), typed)
    assert r.status_code == 303 and r.headers["location"].startswith("/activate/password?id="), r.text
    done = submit_password(browser, r.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/account?done=activated"
    account = browser.get("/account?done=activated&lang=en")
    assert account.status_code == 200 and "Your account is ready and you are signed in" in page_text(account.text)
    hashed = idp.services.people.password_hash(person.id)
    assert hashed and hashed.startswith("$argon2id$") and idp.services.passwords.verify(hashed, NEW_PASSWORD)
    kinds = [row.kind for row in idp.services.audit.for_person(person.id)]
    assert "activation.issued" in kinds and "activation.used" in kinds
    # The mobile is told the password was set (the notice goes out after the response).
    assert any(m["to"] == NEWCOMER_MOBILE and "password" in m["text"] for m in outbox(idp))
    # The code is used up: a second use is refused the same way as a wrong code.
    again = submit_code(idp.new_browser(), person.national_code, code)
    assert again.status_code == 400 and "not correct" in page_text(again.text)
    # And the new password signs in.
    from tests.idp.account.helpers import sign_in_at

    sign_in_at(idp.new_browser(), person.national_code, password=NEW_PASSWORD)


def test_with_a_pending_sign_in_activation_continues_to_the_service(sqlite_idp: Idp) -> None:
    from tests.idp.account.helpers import portal_url

    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    tx = browser.get(portal_url()).headers["location"].split("tx=")[1]
    login = browser.get(f"/login?tx={tx}&lang=en")
    assert f'href="/activate?tx={tx}"' in login.text and "Got an activation code from a counter office?" in login.text
    r = submit_code(browser, person.national_code, code, tx=tx)
    done = submit_password(browser, r.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == f"/authorize/resume?tx={tx}"


def test_a_wrong_code_and_an_unknown_national_code_get_the_same_answer(sqlite_idp: Idp) -> None:
    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    wrong = submit_code(from_address(sqlite_idp, "198.51.100.1"), person.national_code, _wrong(code))
    unknown_code = make_national_code("998877665")
    unknown = submit_code(from_address(sqlite_idp, "198.51.100.2"), unknown_code, _wrong(code))
    assert wrong.status_code == unknown.status_code == 400
    # The pages differ only in the national code typed back into its field.
    assert _blank_ids(wrong.text).replace(person.national_code, "…") == \
        _blank_ids(unknown.text).replace(unknown_code, "…")
    summary = ERROR_SUMMARY_RE.search(wrong.text)
    assert summary and 'href="#code"' in summary.group(0)
    assert 'aria-describedby="code-hint code-error"' in wrong.text and 'aria-invalid="true"' in wrong.text
    # Nobody was told anything by text message.
    assert outbox(sqlite_idp) == []


def test_an_expired_code_is_refused(make_idp) -> None:
    idp = make_idp()
    person = newcomer(idp)
    code = issue(idp, person)
    with idp.services.engine.begin() as conn:
        conn.execute(update(ActivationCodeRow).where(ActivationCodeRow.person_id == person.id)
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = submit_code(idp.new_browser(), person.national_code, code)
    assert r.status_code == 400 and "has expired" in page_text(r.text)
    assert idp.services.people.password_hash(person.id) is None


def test_a_code_accepted_then_expired_cannot_set_the_password(sqlite_idp: Idp) -> None:
    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    r = submit_code(browser, person.national_code, code)
    with sqlite_idp.services.engine.begin() as conn:
        conn.execute(update(ActivationCodeRow).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    done = submit_password(browser, r.headers["location"])
    assert done.status_code == 400 and "This activation has expired" in page_text(done.text)
    assert sqlite_idp.services.people.password_hash(person.id) is None


def test_too_many_wrong_codes_end_the_code_until_the_office_sends_a_new_one(make_idp) -> None:
    idp = make_idp(activation_max_attempts=3)
    person = newcomer(idp)
    code = issue(idp, person)
    # Guesses spread over many addresses, so only the code's own limit stops them.
    for n in range(3):
        r = submit_code(from_address(idp, f"203.0.113.{n + 1}"), person.national_code, _wrong(code))
        assert r.status_code == 400
    dead = submit_code(from_address(idp, "203.0.113.50"), person.national_code, code)
    assert dead.status_code == 400 and "is not correct, or the code has expired" in page_text(dead.text)
    assert "ask for a new one" in page_text(dead.text)  # the page says where a new code comes from
    # The person is not locked out for good: a new code works.
    fresh = issue(idp, person)
    r = submit_code(from_address(idp, "203.0.113.51"), person.national_code, fresh)
    assert r.status_code == 303


def test_guessing_from_one_address_is_slowed_like_recovery(sqlite_idp: Idp) -> None:
    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    statuses = [submit_code(browser, person.national_code, _wrong(code)).status_code for _ in range(5)]
    # The sign-in throttle's slow-down after three failures (IDP_LOGIN_FAILURES_BEFORE_DELAY).
    assert statuses == [400] * 3 + [429] * 2
    refused = submit_code(browser, person.national_code, code)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many attempts" in page_text(refused.text)


def test_the_form_needs_its_csrf_token(sqlite_idp: Idp) -> None:
    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    browser.get("/activate")
    r = browser.post("/activate", data={"national_code": person.national_code, "code": code})
    assert r.status_code == 400 and "Your form expired" in page_text(browser.post(
        "/activate?lang=en", data={"national_code": person.national_code, "code": code}).text)
    # The code was not spent by the refused forms.
    assert submit_code(browser, person.national_code, code).status_code == 303


def test_a_weak_password_is_refused_next_to_its_field_and_the_code_still_works(sqlite_idp: Idp) -> None:
    person = newcomer(sqlite_idp)
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    r = submit_code(browser, person.national_code, code)
    weak = submit_password(browser, r.headers["location"] + "&lang=en", password="password123")
    assert weak.status_code == 400 and "one of the most common" in page_text(weak.text)
    assert 'aria-describedby="password-hint password-error"' in weak.text
    own_code = submit_password(browser, r.headers["location"], password=f"x{person.national_code}x")
    assert own_code.status_code == 400
    done = submit_password(browser, r.headers["location"])
    assert done.status_code == 303


@pytest.mark.parametrize("national_code, code", [
    ("", ""), ("123", "abc"), ("1" * 5000, "1" * 5000), ("\x00", "\x00"), ("۱۲۳", "۱۲۳۴"),
    ("0000000000", "12345678"), ("' or 1=1 --", "12345678"), ("0012345679", "1234567"),
])
def test_junk_never_gets_a_500(sqlite_idp: Idp, national_code: str, code: str) -> None:
    browser = sqlite_idp.new_browser()
    page = browser.get("/activate?lang=en")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = browser.post("/activate", data={"csrf_token": csrf.group(1), "national_code": national_code, "code": code})
    assert r.status_code == 400, r.text
    assert "There is a problem" in page_text(r.text) or "not valid" in page_text(r.text)


def test_junk_on_the_password_page_never_gets_a_500(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    assert browser.get("/activate/password?id=nope").status_code == 400
    assert browser.get("/activate/password").status_code == 400
    assert browser.post("/activate/password", data={"id": "x" * 5000, "password": "p"}).status_code == 400
    assert browser.post("/activate/password", data={"id": "a:b", "password": "\x00"}).status_code == 400


def test_the_pages_are_in_persian_by_default(sqlite_idp: Idp) -> None:
    browser = sqlite_idp.new_browser()
    page = browser.get("/activate")
    assert page.status_code == 200 and "فعال کردن حساب" in page.text and 'lang="fa"' in page.text
    # Persian digits on the Persian page (idp.web.i18n), including the hint's "8 digits".
    assert "۸ رقمی که در پیامک آمده است" in page.text


def test_every_activation_sentence_has_a_persian_translation() -> None:
    from idp.account import activate
    from idp.account.common import ACTIVATED_NOTICE
    from idp.web.i18n import load_translations

    fa = load_translations()["fa"]
    sentences = [value for name, value in vars(activate).items() if name.isupper() and isinstance(value, str)
                 and " " in value]
    sentences.append(ACTIVATED_NOTICE)
    assert [s for s in sentences if fa.gettext(s) == s] == []


def test_a_password_already_set_is_replaced_and_other_sessions_end(sqlite_idp: Idp) -> None:
    from tests.idp.account.helpers import is_signed_in, sign_in_at

    other = sqlite_idp.new_browser()
    sign_in_at(other, sqlite_idp.national_code)
    person = sqlite_idp.services.people.get(sqlite_idp.person_id)
    assert person is not None
    code = issue(sqlite_idp, person)
    browser = sqlite_idp.new_browser()
    done = submit_password(browser, submit_code(browser, person.national_code, code).headers["location"])
    assert done.status_code == 303
    assert not is_signed_in(other)
    assert not sqlite_idp.services.passwords.verify(sqlite_idp.services.people.password_hash(person.id), PASSWORD)
