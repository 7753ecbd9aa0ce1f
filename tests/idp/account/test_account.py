"""What every account page shares (`idp.account`): signing in comes back to the page asked for,
the same tabs on each page, and forms that need the browser's CSRF token."""

from __future__ import annotations

import re
from html import unescape

from tests.idp.account.helpers import (
    CHROME_ANDROID,
    NEW_PASSWORD,
    browser_as,
    is_signed_in,
    sessions_listed,
    sign_in_at,
)
from tests.idp.conftest import PASSWORD, Idp
from tests.idp.flows import user_tokens


def test_every_account_page_asks_to_sign_in_comes_back_and_has_the_same_tabs(idp: Idp) -> None:
    for path in ("/account", "/account/security", "/account/sessions", "/account/services", "/account/history",
                 "/account/companies"):
        browser = idp.new_browser()
        sign_in_at(browser, idp.national_code, path)
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


def test_every_account_form_refuses_a_missing_csrf_token(idp: Idp) -> None:
    phone = browser_as(idp, CHROME_ANDROID)
    sign_in_at(phone, idp.national_code)
    user_tokens(idp)
    (phone_sid,) = [sid for sid, _, here in sessions_listed(phone) if here]
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
    assert is_signed_in(phone) and is_signed_in(idp.browser)
    assert idp.services.people.get(idp.person_id).proofing_tier == 1  # type: ignore[union-attr]
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)
    assert "portal" in idp.services.refresh_tokens.clients_of(idp.person_id)
