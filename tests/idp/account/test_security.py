"""The account's sign-in and security page: authenticator app enrollment with recovery codes."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pyotp

from tests.idp.conftest import CSRF_RE, ISSUER, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_login, submit_step


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
