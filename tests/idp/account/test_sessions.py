"""Where you're signed in (`idp.account.sessions`): every browser of the person, named by its
User-Agent, and signing one of them or all of them out."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urlencode

from idp.account import sessions as account_sessions
from idp.web.i18n import load_translations
from levels.iranian_input import make_national_code
from tests.idp.account.helpers import (
    CHROME_ANDROID,
    FIREFOX,
    browser_as,
    is_signed_in,
    other_person,
    page_text,
    portal_url,
    post_form,
    sessions_listed,
    sign_in_at,
)
from tests.idp.conftest import ISSUER, Idp, pkce_pair, sign_in


def test_both_browsers_are_listed_and_signing_out_the_other_one_ends_only_it(idp: Idp) -> None:
    laptop, phone = browser_as(idp, FIREFOX), browser_as(idp, CHROME_ANDROID)
    sign_in_at(laptop, idp.national_code)
    sign_in_at(phone, idp.national_code)

    listed = sessions_listed(laptop)
    assert sorted((device, here) for _, device, here in listed) == [
        ("Chrome on Android", False), ("Firefox on Windows", True)]
    assert listed[0][2], "this device comes first"
    page = page_text(laptop.get("/account/sessions?lang=en").text)
    assert "IP address: testclient" in page and "Signed in:" in page and "Last active:" in page
    # The devices in Persian.
    assert "Firefox روی Windows" in laptop.get("/account/sessions?lang=fa").text

    phone_sid = next(sid for sid, device, _ in listed if device == "Chrome on Android")
    done = post_form(laptop, "/account/sessions/end", sid=phone_sid)
    assert done.status_code == 303 and done.headers["location"] == "/account/sessions?done=ended"
    after = laptop.get("/account/sessions?done=ended&lang=en")
    assert "That device was signed out." in page_text(after.text)
    assert [device for _, device, _ in sessions_listed(laptop)] == ["Firefox on Windows"]

    # The phone must sign in again, at its next authorization too; the laptop goes on.
    r = phone.get(portal_url())
    assert r.status_code in (302, 303) and r.headers["location"].startswith("/login?")
    assert not is_signed_in(phone) and is_signed_in(laptop)
    ended = idp.services.audit.recent(kind="session.ended")
    assert [(e.detail["sid"], e.detail["reason"]) for e in ended] == [(phone_sid, "signed_out")]


def test_a_session_that_is_not_ones_own_is_refused(idp: Idp) -> None:
    mine, theirs = idp.new_browser(), idp.new_browser()
    sign_in_at(mine, idp.national_code)
    sign_in_at(theirs, other_person(idp))
    other = idp.services.people.get_by_national_code(make_national_code("004433221"))
    assert other is not None
    (their_sid,) = [r.sid for r in idp.services.sessions.register.open_for(other.id, datetime.now(UTC))]
    for sid in (their_sid, "no-such-session", ""):
        refused = post_form(mine, "/account/sessions/end", sid=sid)
        assert refused.status_code == 400
    assert is_signed_in(theirs) and is_signed_in(mine)


def test_signing_out_this_device_shows_the_signed_out_page(idp: Idp) -> None:
    sign_in_at(idp.browser, idp.national_code)
    ((sid, _, here),) = sessions_listed(idp.browser)
    assert here
    r = post_form(idp.browser, "/account/sessions/end", sid=sid)
    assert r.status_code == 200
    assert "You have signed out of government services on this device." in page_text(r.text)
    assert any(c.startswith(f'{idp.services.cookies.session.name}=""') for c in r.headers.get_list("set-cookie"))
    assert not is_signed_in(idp.browser)
    assert idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC)) == []


def test_sign_out_everywhere_ends_every_browser_and_this_one_leaves_its_services(idp: Idp) -> None:
    idp.add_client("library", name="National library", frontchannel_logout_uri="https://library.example/signed-out",
                   scopes=["openid"])
    laptop, phone = browser_as(idp, FIREFOX), browser_as(idp, CHROME_ANDROID)
    sign_in_at(phone, idp.national_code)
    _, challenge = pkce_pair()
    to_library = sign_in(laptop, f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "library", "redirect_uri": "https://library.example/callback",
        "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}), idp.national_code)
    assert to_library.headers["location"].startswith("https://library.example/callback?code=")
    assert len(sessions_listed(laptop)) == 2

    r = post_form(laptop, "/account/sessions/end-all", confirm="yes")
    assert r.status_code == 200
    # The library, used in this browser, is signed out here too, through its front-channel URL.
    frames = re.findall(r'<iframe src="([^"]+)"', r.text)
    assert len(frames) == 1 and unescape(frames[0]).startswith("https://library.example/signed-out?iss=")
    assert "frame-src https://library.example" in r.headers["content-security-policy"]
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC)) == []
    reasons = {e.detail["reason"] for e in idp.services.audit.recent(kind="session.ended")}
    assert reasons == {"everywhere"}


def test_every_sentence_the_sessions_page_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [account_sessions.SESSION_ENDED, account_sessions.NOT_YOUR_SESSION, account_sessions.UNKNOWN_DEVICE,
                account_sessions.DEVICE_PATTERN, account_sessions.CONFIRM_END_ALL,
                account_sessions.CONFIRM_END_ALL_DETAIL]
    assert [m for m in messages if persian.gettext(m) == m] == []
    assert persian.gettext(account_sessions.DEVICE_PATTERN).count("%(") == 2


def test_sign_out_everywhere_asks_first_and_signs_out_nobody_until_confirmed(idp: Idp) -> None:
    laptop, phone = browser_as(idp, FIREFOX), browser_as(idp, CHROME_ANDROID)
    sign_in_at(laptop, idp.national_code)
    sign_in_at(phone, idp.national_code)
    laptop.get("/account/sessions?lang=en")
    asked = post_form(laptop, "/account/sessions/end-all")
    assert asked.status_code == 200
    assert "Sign out everywhere?" in page_text(asked.text)
    assert 'action="/account/sessions/end-all"' in asked.text and 'name="confirm" value="yes"' in asked.text
    assert 'href="/account/sessions"' in asked.text  # Cancel
    assert is_signed_in(laptop) and is_signed_in(phone)
    assert post_form(laptop, "/account/sessions/end-all", confirm="yes").status_code == 200
    assert not is_signed_in(laptop) and not is_signed_in(phone)
