"""SMS codes at step-up over HTTP: limited per person, never leaving a sign-in stuck; the limits are
settings; every 429 says when to try again."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from pydantic import ValidationError
from starlette.testclient import TestClient

from idp.settings import Settings
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_step

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster

L2 = "urn:idp:loa:2"
SMS_STEP = 'name="method" value="sms"'
MOMENTS_AGO = "We sent you a code a moment ago. Enter that code: it is still valid."
MOMENTS_AGO_FA = "چند لحظه پیش کدی برایتان فرستادیم. همان کد را وارد کنید؛ هنوز معتبر است."


def _authorize_url(challenge: str, *, english: bool = True) -> str:
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "st", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
              "acr_values": L2}
    if english:
        params["ui_locales"] = "en"
    return f"{ISSUER}/authorize?{urlencode(params)}"


def _sms_step(idp: Idp, browser: TestClient, *, english: bool = True) -> tuple[httpx.Response, str]:
    """Sign in at level 2 up to the SMS code page; the page and the PKCE verifier."""
    verifier, challenge = pkce_pair()
    page = sign_in(browser, _authorize_url(challenge, english=english), idp.national_code)
    assert page.status_code == 200 and SMS_STEP in page.text, page.text
    return page, verifier


def _outbox(idp: Idp) -> list[dict[str, str]]:
    path = idp.services.settings.sms_outbox
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _claims(idp: Idp, browser: TestClient, done: httpx.Response, verifier: str) -> dict[str, object]:
    assert done.status_code == 303, done.text
    location = browser.get(done.headers["location"]).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    r = browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return dict(jwt.decode(r.json()["id_token"], KeySet.import_key_set(browser.get("/jwks").json())).claims)


def _waits(r: httpx.Response) -> int:
    """The 429's Retry-After, checked against the seconds the page tells the person."""
    assert r.status_code == 429
    seconds = int(r.headers["Retry-After"])
    assert f"Please wait {seconds} second" in r.text
    return seconds


def test_a_second_sign_in_moments_later_uses_the_code_already_sent(idp: Idp) -> None:
    idp.set_tier(2)
    phone, laptop = idp.browser, idp.new_browser()
    first, _ = _sms_step(idp, phone)
    code = idp.last_sms_code()
    sent = len(_outbox(idp))

    second, verifier = _sms_step(idp, laptop)
    assert MOMENTS_AGO in second.text and "+98912***4567" in second.text
    assert len(_outbox(idp)) == sent
    claims = _claims(idp, laptop, submit_step(laptop, second.text, code=code), verifier)
    assert claims["acr"] == L2 and {"pwd", "sms", "mfa"} <= set(claims["amr"])

    # The code is used up; the first sign-in asks for a new one and gets it at once: a code that
    # was used lifts the wait.
    assert submit_step(phone, first.text, code=code).status_code == 400
    resent = submit_step(phone, first.text, resend="1")
    assert resent.status_code == 200 and "A new code was sent." in resent.text
    assert len(_outbox(idp)) == sent + 1
    assert submit_step(phone, first.text, code=idp.last_sms_code()).status_code == 303


def test_the_page_says_so_in_persian_by_default(idp: Idp) -> None:
    idp.set_tier(2)
    _sms_step(idp, idp.browser, english=False)
    code = idp.last_sms_code()
    laptop = idp.new_browser()
    second, _ = _sms_step(idp, laptop, english=False)
    assert MOMENTS_AGO_FA in second.text and MOMENTS_AGO not in second.text
    assert submit_step(laptop, second.text, code=code).status_code == 303


def test_asking_for_a_new_code_too_soon_is_a_429_that_says_when(idp: Idp) -> None:
    idp.set_tier(2)
    page, verifier = _sms_step(idp, idp.browser)
    sent = len(_outbox(idp))
    assert 50 <= _waits(submit_step(idp.browser, page.text, resend="1")) <= 60
    assert len(_outbox(idp)) == sent
    # The code already sent still works.
    done = submit_step(idp.browser, page.text, code=idp.last_sms_code())
    assert _claims(idp, idp.browser, done, verifier)["acr"] == L2


def test_persian_wait_uses_persian_digits(sqlite_idp: Idp) -> None:
    sqlite_idp.set_tier(2)
    page, _ = _sms_step(sqlite_idp, sqlite_idp.browser, english=False)
    r = submit_step(sqlite_idp.browser, page.text, resend="1")
    assert r.status_code == 429
    digits = str(int(r.headers["Retry-After"])).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert f"لطفاً پیش از درخواست کد جدید {digits} ثانیه صبر کنید." in r.text


def test_the_limits_are_settings(make_idp: Callable[..., Idp]) -> None:
    idp = make_idp(sms_resend_interval=5, sms_max_per_window=2, sms_window=600)
    idp.set_tier(2)
    page, _ = _sms_step(idp, idp.browser)
    assert 1 <= _waits(submit_step(idp.browser, page.text, resend="1")) <= 5
    assert submit_step(idp.browser, page.text, code=idp.last_sms_code()).status_code == 303

    second = idp.new_browser()
    page, _ = _sms_step(idp, second)
    assert len(_outbox(idp)) == 2 and MOMENTS_AGO not in page.text
    assert submit_step(second, page.text, code=idp.last_sms_code()).status_code == 303

    # Two codes in the window: the third sign-in is told, and asking again says how long to wait.
    third = idp.new_browser()
    page, _ = _sms_step(idp, third)
    assert "Too many codes were sent. Try again later." in page.text and len(_outbox(idp)) == 2
    r = submit_step(third, page.text, resend="1")
    assert r.status_code == 429 and 500 < int(r.headers["Retry-After"]) <= 600
    assert "Too many codes were sent. Try again later." in r.text and len(_outbox(idp)) == 2


def test_the_resend_interval_is_never_longer_than_a_code_lives() -> None:
    assert Settings(sms_resend_interval=120).sms_resend_interval == 120
    for wrong in ({"sms_resend_interval": 121}, {"sms_resend_interval": -1}, {"sms_max_per_window": 0},
                  {"sms_window": 0}):
        with pytest.raises(ValidationError):
            Settings(**wrong)  # type: ignore[arg-type]


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDP_SMS_RESEND_INTERVAL", "30")
    monkeypatch.setenv("IDP_SMS_MAX_PER_WINDOW", "3")
    monkeypatch.setenv("IDP_SMS_WINDOW", "1800")
    settings = Settings()
    assert (settings.sms_resend_interval, settings.sms_max_per_window, settings.sms_window) == (30, 3, 1800)


def test_wrong_codes_answer_429_with_retry_after(idp: Idp) -> None:
    idp.set_tier(2)
    page, _ = _sms_step(idp, idp.browser)
    statuses = [submit_step(idp.browser, page.text, code="000000" if idp.last_sms_code() != "000000" else "111111")
                for _ in range(6)]
    # A few tries, then a wait that grows until guessing from here stops.
    free = idp.services.settings.login_failures_before_delay
    assert [r.status_code for r in statuses] == [400] * free + [429] * (6 - free)
    assert 0 < int(statuses[-1].headers["Retry-After"]) <= idp.services.settings.login_failure_window
    assert re.search("Too many attempts", statuses[-1].text)


def test_what_the_code_pages_say_is_translated() -> None:
    from idp.signin import sms_codes
    from idp.web.i18n import load_translations

    persian = load_translations()["fa"]
    for message in (sms_codes.CODE_SENT_MOMENTS_AGO, sms_codes.TOO_MANY_CODES):
        assert persian.gettext(message) != message
    for n in (1, 2, 59):
        assert "%(seconds)s" in persian.ngettext(*sms_codes._WAIT, n)
        assert "ثانیه" in sms_codes.wait_for_code(persian, "fa", n)
