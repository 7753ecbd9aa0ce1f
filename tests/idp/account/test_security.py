"""The account's sign-in and security page: authenticator app enrollment with recovery codes, and
changing the password."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pyotp

from idp.account import security as account
from idp.web.i18n import load_translations
from tests.idp.account.helpers import (
    CHROME_ANDROID,
    FIREFOX,
    NEW_PASSWORD,
    browser_as,
    is_signed_in,
    page_text,
    post_form,
    sign_in_at,
)
from tests.idp.conftest import (
    CSRF_RE,
    ISSUER,
    PASSWORD,
    REDIRECT_URI,
    Idp,
    pkce_pair,
    sign_in,
    submit_login,
    submit_step,
)


def _signed_in_account(idp: Idp) -> str:
    r = idp.browser.get("/account/security")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?tx=")
    page = idp.browser.get(r.headers["location"] + "&lang=en")
    done = submit_login(idp.browser, page.text, idp.national_code, "correct horse battery")
    assert done.status_code == 303 and done.headers["location"] == "/account/security"
    account = idp.browser.get("/account/security?lang=en")
    assert account.status_code == 200 and "Set up an authenticator app" in account.text
    return account.text


def _enroll(idp: Idp) -> tuple[str, list[str]]:
    page = _signed_in_account(idp)
    csrf = CSRF_RE.search(page).group(1)  # type: ignore[union-attr]
    started = idp.browser.post("/account/totp/start", data={"csrf_token": csrf})
    assert "<svg" in started.text
    secret = re.search(r"<code dir=\"ltr\">([A-Z2-7]+)</code>", started.text).group(1)  # type: ignore[union-attr]
    wrong = idp.browser.post("/account/totp/confirm", data={"csrf_token": csrf, "code": "000000"})
    assert wrong.status_code == 400
    done = idp.browser.post("/account/totp/confirm", data={"csrf_token": csrf, "code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([0-9a-z-]+)</code></li>", done.text)
    assert len(codes) == 10
    return secret, codes


def test_authenticator_app_enrollment_shows_qr_secret_and_ten_recovery_codes(idp: Idp) -> None:
    _enroll(idp)
    assert idp.services.credentials.has_totp(idp.person_id)
    assert idp.services.credentials.remaining_recovery_codes(idp.person_id) == 10
    assert [e.kind for e in idp.services.audit.recent(kind="authenticator.totp_added")] == ["authenticator.totp_added"]


def test_level_two_with_authenticator_app_and_replay_refused(idp: Idp) -> None:
    secret, codes = _enroll(idp)
    idp.set_tier(2)
    _, challenge = pkce_pair()
    url = f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256", "acr_values": "urn:idp:loa:2",
        "ui_locales": "en"})
    page = sign_in(idp.browser, url, idp.national_code)
    assert "Authenticator code" in page.text
    # The code used to confirm enrollment was consumed: the same time step is refused (replay).
    used = pyotp.TOTP(secret).now()
    replay = submit_step(idp.browser, page.text, code=used)
    assert replay.status_code == 400
    # A recovery code works once.
    ok = submit_step(idp.browser, page.text, code=codes[0])
    assert ok.status_code == 303
    assert idp.services.credentials.remaining_recovery_codes(idp.person_id) == 9


# -- password ------------------------------------------------------------------------------------

def test_changing_the_password_checks_the_current_one_and_signs_out_the_other_devices(idp: Idp) -> None:
    laptop, phone = browser_as(idp, FIREFOX), browser_as(idp, CHROME_ANDROID)
    sign_in_at(laptop, idp.national_code)
    sign_in_at(phone, idp.national_code)
    laptop.get("/account?lang=en")

    wrong = post_form(laptop, "/account/password", current_password="not my password", new_password=NEW_PASSWORD)
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.text
    weak = post_form(laptop, "/account/password", current_password=PASSWORD, new_password="password123")
    assert weak.status_code == 400 and "This password is one of the most common ones" in weak.text
    own_code = post_form(laptop, "/account/password", current_password=PASSWORD,
                     new_password=f"my code {idp.national_code}")
    assert own_code.status_code == 400 and "Do not use your national code" in own_code.text
    assert is_signed_in(phone)
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)

    done = post_form(laptop, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account/security?done=password"
    shown = page_text(laptop.get(done.headers["location"]).text)
    assert "Your password was changed. You were signed out on your other devices." in shown
    assert is_signed_in(laptop) and not is_signed_in(phone)

    # Only the new password signs in now, and the mobile is told of the change.
    fresh = idp.new_browser()
    r = fresh.get("/account")
    login = fresh.get(r.headers["location"])
    assert submit_login(fresh, login.text, idp.national_code, PASSWORD).status_code == 400
    assert submit_login(fresh, login.text, idp.national_code, NEW_PASSWORD).status_code == 303
    last_sms = json.loads(idp.services.settings.sms_outbox.read_text(encoding="utf-8").splitlines()[-1])
    assert last_sms["to"] == "+989121234567" and "password was changed" in last_sms["text"]
    assert [e.kind for e in idp.services.audit.recent(kind="password.changed")] == ["password.changed"]


def test_guessing_the_current_password_is_limited_like_signing_in(idp: Idp) -> None:
    sign_in_at(idp.browser, idp.national_code)
    idp.browser.get("/account?lang=en")
    statuses = [post_form(idp.browser, "/account/password", current_password=f"guess {n}",
                      new_password=NEW_PASSWORD).status_code for n in range(5)]
    free = idp.services.settings.login_failures_before_delay
    assert statuses == [400] * free + [429] * (5 - free)
    blocked = post_form(idp.browser, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)
    # The same counters as the sign-in page: this browser cannot sign in again either (its guesses
    # count against it, as a known browser's own failures do at sign-in).
    idp.browser.cookies.delete(idp.services.cookies.session.name)
    login = idp.browser.get(idp.browser.get("/account").headers["location"])
    assert submit_login(idp.browser, login.text, idp.national_code, PASSWORD).status_code == 429


def test_every_sentence_the_security_page_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [account.PASSWORD_CHANGED, account.WRONG_CURRENT_PASSWORD, "Enter your current password."]
    assert [m for m in messages if persian.gettext(m) == m] == []
