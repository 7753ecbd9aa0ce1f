"""The citizen's account pages over HTTP: profile and proofing, where you're signed in, the password,
connected services and the activity log."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from html import unescape
from urllib.parse import urlencode

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from starlette.testclient import TestClient

from idp.account import connected_services as account_services
from idp.account import history as account_history
from idp.account import profile as account_profile
from idp.account import security as account
from idp.account import sessions as account_sessions
from idp.web.i18n import load_translations
from levels.national_code import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, REDIRECT_URI, Idp, pkce_pair, sign_in, submit_login
from tests.idp.flows import user_tokens

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
NEW_PASSWORD = "violet tractor lantern"


def _browser(idp: Idp, user_agent: str) -> TestClient:
    browser = idp.new_browser()
    browser.headers["user-agent"] = user_agent
    return browser


def _sign_in(browser: TestClient, national_code: str, page: str = "/account", password: str = PASSWORD) -> None:
    """Open an account page signed out, sign in on the page it sends to, and come back to it."""
    r = browser.get(page)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?tx=")
    login = browser.get(r.headers["location"])
    done = submit_login(browser, login.text, national_code, password)
    assert done.status_code == 303 and done.headers["location"] == page, done.text


def _is_signed_in(browser: TestClient) -> bool:
    r = browser.get("/account")
    assert r.status_code in (200, 303)
    return r.status_code == 200


def _post(browser: TestClient, path: str, **fields: str) -> httpx.Response:
    """Submit an account form as the page would: with this browser's CSRF token."""
    page = browser.get("/account/security")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.text)
    assert csrf
    return browser.post(path, data={"csrf_token": csrf.group(1), **fields})


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _sessions_listed(browser: TestClient) -> list[tuple[str, str, bool]]:
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


def _portal_url() -> str:
    _, challenge = pkce_pair()
    return f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"})


def _other_person(idp: Idp, code: str = "004433221", **fields: object) -> str:
    national_code = make_national_code(code)
    person = new_person(national_code, "Reza", "Karimi", now=datetime.now(UTC), **fields)  # type: ignore[arg-type]
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    return national_code


# -- signing in to the account -------------------------------------------------------------------

def test_every_account_page_asks_to_sign_in_comes_back_and_has_the_same_tabs(idp: Idp) -> None:
    for path in ("/account", "/account/security", "/account/sessions", "/account/services", "/account/history",
                 "/account/companies"):
        browser = idp.new_browser()
        _sign_in(browser, idp.national_code, path)
        shown = browser.get(path + "?lang=en")
        assert shown.status_code == 200
        tabs = re.search(r'<nav class="tabs"[^>]*>(.*?)</nav>', shown.text, re.S)
        assert tabs, path
        links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', tabs.group(1))
        assert [(href, unescape(label)) for href, _, label in links] == [
            ("/account", "Profile"), ("/account/security", "Sign-in and security"),
            ("/account/sessions", "Where you're signed in"), ("/account/services", "Connected services"),
            ("/account/history", "Activity"), ("/account/companies", "Companies I represent")]
        # Its own tab is marked as the current one.
        assert [href for href, current, _ in links if current] == [path]


# -- profile -------------------------------------------------------------------------------------

def test_profile_shows_the_proofing_tier_and_the_registry_check_raises_it(idp: Idp) -> None:
    _sign_in(idp.browser, idp.national_code)
    page = _text(idp.browser.get("/account?lang=en").text)
    assert "Sara Ahmadi" in page and idp.national_code in page and "1990-03-21" in page
    assert "+98912***4567" in page and "+989121234567" not in page and "Confirmed by a code" in page
    assert "Self-declared (level 1)" in page and "Verify with the civil registry" in page

    done = _post(idp.browser, "/account/proofing")
    assert done.status_code == 303 and done.headers["location"] == "/account?done=verified"
    page = _text(idp.browser.get(done.headers["location"]).text)
    assert "The civil registry confirmed your details" in page
    assert "Confirmed with the civil registry (level 2)" in page and "Verify with the civil registry" not in page
    assert "visit a government counter office with your national ID card" in page
    # The registry's spelling of the name replaces the one typed at registration.
    assert "سارا احمدی" in page
    assert idp.services.people.get(idp.person_id).proofing_tier == 2  # type: ignore[union-attr]

    # In Persian the birth date is on the Jalali calendar.
    persian = _text(idp.browser.get("/account?lang=fa").text)
    assert "1369/01/01" in persian and "تأییدشده با ثبت احوال (سطح ۲)" in persian


def test_the_registry_refusal_is_explained_and_the_tier_stays(idp: Idp) -> None:
    # Not in the simulated civil registry.
    code = _other_person(idp, birthdate=date(1991, 2, 3), mobile="+989120009999", mobile_verified=True)
    browser = idp.new_browser()
    _sign_in(browser, code)
    browser.get("/account?lang=en")
    refused = _post(browser, "/account/proofing")
    assert refused.status_code == 400 and "The registry could not confirm your details." in _text(refused.text)
    assert "Self-declared" in _text(browser.get("/account?lang=en").text)
    person = idp.services.people.get_by_national_code(code)
    assert person is not None and person.proofing_tier == 1


def test_without_a_birth_date_only_the_counter_office_is_offered_and_level_three_needs_nothing(idp: Idp) -> None:
    code = _other_person(idp, "005566778")
    browser = idp.new_browser()
    _sign_in(browser, code)
    page = _text(browser.get("/account?lang=en").text)
    assert "Verify with the civil registry" not in page and "Not recorded" in page
    assert "The civil registry check needs your birth date" in page
    idp.set_tier(3)
    _sign_in(idp.browser, idp.national_code)
    page = _text(idp.browser.get("/account?lang=en").text)
    assert "Verified in person (level 3)" in page and "every service is open to you" in page
    assert "Verify with the civil registry" not in page and "counter office with your national ID card" not in page


# -- where you're signed in ----------------------------------------------------------------------

def test_both_browsers_are_listed_and_signing_out_the_other_one_ends_only_it(idp: Idp) -> None:
    laptop, phone = _browser(idp, FIREFOX), _browser(idp, CHROME_ANDROID)
    _sign_in(laptop, idp.national_code)
    _sign_in(phone, idp.national_code)

    listed = _sessions_listed(laptop)
    assert sorted((device, here) for _, device, here in listed) == [
        ("Chrome on Android", False), ("Firefox on Windows", True)]
    assert listed[0][2], "this device comes first"
    page = _text(laptop.get("/account/sessions?lang=en").text)
    assert "IP address: testclient" in page and "Signed in:" in page and "Last active:" in page
    # The devices in Persian.
    assert "Firefox روی Windows" in laptop.get("/account/sessions?lang=fa").text

    phone_sid = next(sid for sid, device, _ in listed if device == "Chrome on Android")
    done = _post(laptop, "/account/sessions/end", sid=phone_sid)
    assert done.status_code == 303 and done.headers["location"] == "/account/sessions?done=ended"
    after = laptop.get("/account/sessions?done=ended&lang=en")
    assert "That device was signed out." in _text(after.text)
    assert [device for _, device, _ in _sessions_listed(laptop)] == ["Firefox on Windows"]

    # The phone must sign in again, at its next authorization too; the laptop goes on.
    r = phone.get(_portal_url())
    assert r.status_code in (302, 303) and r.headers["location"].startswith("/login?")
    assert not _is_signed_in(phone) and _is_signed_in(laptop)
    ended = idp.services.audit.recent(kind="session.ended")
    assert [(e.detail["sid"], e.detail["reason"]) for e in ended] == [(phone_sid, "signed_out")]


def test_a_session_that_is_not_ones_own_is_refused(idp: Idp) -> None:
    mine, theirs = idp.new_browser(), idp.new_browser()
    _sign_in(mine, idp.national_code)
    _sign_in(theirs, _other_person(idp))
    other = idp.services.people.get_by_national_code(make_national_code("004433221"))
    assert other is not None
    (their_sid,) = [r.sid for r in idp.services.sessions.register.open_for(other.id, datetime.now(UTC))]
    for sid in (their_sid, "no-such-session", ""):
        refused = _post(mine, "/account/sessions/end", sid=sid)
        assert refused.status_code == 400
    assert _is_signed_in(theirs) and _is_signed_in(mine)


def test_signing_out_this_device_shows_the_signed_out_page(idp: Idp) -> None:
    _sign_in(idp.browser, idp.national_code)
    ((sid, _, here),) = _sessions_listed(idp.browser)
    assert here
    r = _post(idp.browser, "/account/sessions/end", sid=sid)
    assert r.status_code == 200
    assert "You have signed out of government services on this device." in _text(r.text)
    assert any(c.startswith(f'{idp.services.cookies.session.name}=""') for c in r.headers.get_list("set-cookie"))
    assert not _is_signed_in(idp.browser)
    assert idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC)) == []


def test_sign_out_everywhere_ends_every_browser_and_this_one_leaves_its_services(idp: Idp) -> None:
    idp.add_client("library", name="National library", frontchannel_logout_uri="https://library.example/signed-out",
                   scopes=["openid"])
    laptop, phone = _browser(idp, FIREFOX), _browser(idp, CHROME_ANDROID)
    _sign_in(phone, idp.national_code)
    _, challenge = pkce_pair()
    to_library = sign_in(laptop, f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "library", "redirect_uri": "https://library.example/callback",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}), idp.national_code)
    assert to_library.headers["location"].startswith("https://library.example/callback?code=")
    assert len(_sessions_listed(laptop)) == 2

    r = _post(laptop, "/account/sessions/end-all")
    assert r.status_code == 200
    # The library, used in this browser, is signed out here too, through its front-channel URL.
    frames = re.findall(r'<iframe src="([^"]+)"', r.text)
    assert len(frames) == 1 and unescape(frames[0]).startswith("https://library.example/signed-out?iss=")
    assert "frame-src https://library.example" in r.headers["content-security-policy"]
    assert not _is_signed_in(laptop) and not _is_signed_in(phone)
    assert idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC)) == []
    reasons = {e.detail["reason"] for e in idp.services.audit.recent(kind="session.ended")}
    assert reasons == {"everywhere"}


# -- password ------------------------------------------------------------------------------------

def test_changing_the_password_checks_the_current_one_and_signs_out_the_other_devices(idp: Idp) -> None:
    laptop, phone = _browser(idp, FIREFOX), _browser(idp, CHROME_ANDROID)
    _sign_in(laptop, idp.national_code)
    _sign_in(phone, idp.national_code)
    laptop.get("/account?lang=en")

    wrong = _post(laptop, "/account/password", current_password="not my password", new_password=NEW_PASSWORD)
    assert wrong.status_code == 400 and "Your current password is not correct." in wrong.text
    weak = _post(laptop, "/account/password", current_password=PASSWORD, new_password="password123")
    assert weak.status_code == 400 and "This password is one of the most common ones" in weak.text
    own_code = _post(laptop, "/account/password", current_password=PASSWORD,
                     new_password=f"my code {idp.national_code}")
    assert own_code.status_code == 400 and "Do not use your national code" in own_code.text
    assert _is_signed_in(phone)
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)

    done = _post(laptop, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account/security?done=password"
    shown = _text(laptop.get(done.headers["location"]).text)
    assert "Your password was changed. You were signed out on your other devices." in shown
    assert _is_signed_in(laptop) and not _is_signed_in(phone)

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
    _sign_in(idp.browser, idp.national_code)
    idp.browser.get("/account?lang=en")
    statuses = [_post(idp.browser, "/account/password", current_password=f"guess {n}",
                      new_password=NEW_PASSWORD).status_code for n in range(5)]
    free = idp.services.settings.login_failures_before_delay
    assert statuses == [400] * free + [429] * (5 - free)
    blocked = _post(idp.browser, "/account/password", current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)
    # The same counters as the sign-in page: this browser cannot sign in again either (its guesses
    # count against it, as a known browser's own failures do at sign-in).
    idp.browser.cookies.delete(idp.services.cookies.session.name)
    login = idp.browser.get(idp.browser.get("/account").headers["location"])
    assert submit_login(idp.browser, login.text, idp.national_code, PASSWORD).status_code == 429


# -- connected services --------------------------------------------------------------------------

def test_disconnecting_a_service_ends_its_tokens_and_consent(idp: Idp) -> None:
    idp.add_client("shop", name="Online pharmacy", scopes=["openid", "profile"], require_consent=True)
    tokens = user_tokens(idp)  # the portal stays connected with a refresh token
    idp.services.consents.grant(idp.person_id, "shop", ["openid", "profile"])

    page = _text(idp.browser.get("/account/services?lang=en").text)
    assert "Tax portal" in page and "Keep you connected to this service when you are not using it" in page
    assert "Online pharmacy" in page and "Your name and date of birth" in page and "Allowed on" in page

    done = _post(idp.browser, "/account/services/revoke", client_id="portal")
    assert done.status_code == 303 and done.headers["location"] == "/account/services?done=disconnected"
    page = _text(idp.browser.get(done.headers["location"]).text)
    assert "The service was disconnected." in page and "Tax portal" not in page and "Online pharmacy" in page
    with pytest.raises(OAuthError) as refused:
        idp.oauth().refresh_token(f"{ISSUER}/token", refresh_token=tokens["refresh_token"])
    assert refused.value.error == "invalid_grant"
    intro = idp.browser.post("/introspect", auth=("portal", idp.portal_secret), data={"token": tokens["access_token"]})
    assert intro.json() == {"active": False}

    assert _post(idp.browser, "/account/services/revoke", client_id="shop").status_code == 303
    assert "No service is connected to your account." in _text(idp.browser.get("/account/services?lang=en").text)
    # The pharmacy must ask again.
    _, challenge = pkce_pair()
    again = idp.browser.get(f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "shop", "redirect_uri": "https://shop.example/callback",
        "scope": "openid profile", "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert again.status_code == 302 and again.headers["location"].startswith("/login/consent?")
    disconnected = idp.services.audit.recent(kind="service.disconnected")
    assert sorted(e.client_id for e in disconnected) == ["portal", "shop"]


def test_a_service_that_is_not_connected_cannot_be_disconnected(idp: Idp) -> None:
    _sign_in(idp.browser, idp.national_code)
    r = _post(idp.browser, "/account/services/revoke", client_id="portal")
    assert r.status_code == 400
    assert idp.services.audit.recent(kind="service.disconnected") == []


# -- activity ------------------------------------------------------------------------------------

def _events(browser: TestClient) -> list[tuple[str, str]]:
    """(what, the rest of the line) for each entry of the activity page."""
    page = browser.get("/account/history?lang=en")
    assert page.status_code == 200
    items = re.findall(r'<li class="row event">\s*<strong class="what">([^<]+)</strong>(.*?)</li>', page.text, re.S)
    return [(unescape(what), _text(rest)) for what, rest in items]


def test_activity_lists_sign_ins_and_the_failed_attempt_newest_first(idp: Idp) -> None:
    browser = idp.new_browser()
    r = browser.get(_portal_url())
    login = browser.get(r.headers["location"] + "&lang=en")
    assert submit_login(browser, login.text, idp.national_code, "not the password").status_code == 400
    assert submit_login(browser, login.text, idp.national_code, PASSWORD).status_code == 303
    _sign_in(idp.new_browser(), _other_person(idp))  # someone else's sign-in is not in this list

    events = _events(browser)
    assert [what for what, _ in events] == ["Signed in", "Failed sign-in attempt"]
    for _, rest in events:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d · IP address: testclient · Tax portal$", rest), rest

    # Signing out everywhere shows with its reason in words; the account pages name no service.
    _post(browser, "/account/sessions/end-all")
    _sign_in(browser, idp.national_code)
    events = _events(browser)
    assert [what for what, _ in events[:2]] == ["Signed in", "Session ended (signed out everywhere)"]
    assert "Tax portal" not in events[0][1]
    # In Persian, the Jalali calendar.
    persian = browser.get("/account/history?lang=fa").text
    assert re.search(r"<time datetime=\"[^\"]+\">14\d\d/\d\d/\d\d \d\d:\d\d</time>", persian)


# -- forms ---------------------------------------------------------------------------------------

def test_every_account_form_refuses_a_missing_csrf_token(idp: Idp) -> None:
    phone = _browser(idp, CHROME_ANDROID)
    _sign_in(phone, idp.national_code)
    user_tokens(idp)
    (phone_sid,) = [sid for sid, _, here in _sessions_listed(phone) if here]
    forms = {
        "/account/proofing": {},
        "/account/password": {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        "/account/sessions/end": {"sid": phone_sid},
        "/account/sessions/end-all": {},
        "/account/services/revoke": {"client_id": "portal"},
    }
    for path, fields in forms.items():
        for token in ({}, {"csrf_token": "forged"}):
            r = idp.browser.post(path, data={**fields, **token})
            assert r.status_code == 400, path
    assert _is_signed_in(phone) and _is_signed_in(idp.browser)
    assert idp.services.people.get(idp.person_id).proofing_tier == 1  # type: ignore[union-attr]
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)
    assert "portal" in idp.services.refresh_tokens.clients_of(idp.person_id)


def test_every_sentence_the_account_code_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [
        account.PASSWORD_CHANGED, account.WRONG_CURRENT_PASSWORD, "Enter your current password.",
        account_profile.REGISTRY_CONFIRMED, account_profile.REGISTRY_REFUSED,
        account_sessions.SESSION_ENDED, account_sessions.NOT_YOUR_SESSION, account_sessions.UNKNOWN_DEVICE,
        account_sessions.DEVICE_PATTERN, account_services.DISCONNECTED, account_services.NOT_CONNECTED,
        account_history.OTHER_EVENT, *account_history.EVENT_TEXT.values(), *account_history.END_REASON_TEXT.values(),
    ]
    assert [m for m in messages if persian.gettext(m) == m] == []
    assert persian.gettext(account_sessions.DEVICE_PATTERN).count("%(") == 2
