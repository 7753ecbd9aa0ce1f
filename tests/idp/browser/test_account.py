"""The account pages in a real headless Chromium (Debian's, never downloaded), one person's browser:
profile and the registry check, connected services after an authorization, where you're signed in,
changing the password, and signing out everywhere."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.idp.browser import test_login as browser_login
from tests.idp.browser.test_login import LiveIdp
from tests.idp.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

chromium = browser_login.chromium  # Debian Chromium, never downloaded; fails under CI=true
live_idp = browser_login.live_idp  # the app served by uvicorn on 127.0.0.1

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_PASSWORD = "violet tractor lantern"


def _context(chromium: Browser, live: LiveIdp, **options: str) -> tuple[BrowserContext, Page, list[str]]:
    """A browser context in English whose page records console errors (a CSP violation is one)."""
    context = chromium.new_context(**options)  # type: ignore[arg-type]
    context.add_cookies([{"name": live.idp.services.cookies.lang.name, "value": "en", "url": live.base_url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return context, page, errors


def _sign_in(page: Page, national_code: str, password: str = PASSWORD) -> None:
    page.get_by_label("National code").fill(national_code)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_citizen_walks_the_account_pages(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    base, idp = live_idp.base_url, live_idp.idp
    redirect_uri, arrived = live_idp.portal.callback, live_idp.portal.arrived
    context, page, errors = _context(chromium, live_idp)
    tabs = page.locator("nav.tabs")

    # The account asks to sign in, then shows the profile.
    page.goto(f"{base}/account")
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/account")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(tabs.locator("[aria-current=page]")).to_have_text("Profile")
    expect(page.locator("dl.facts")).to_contain_text("+98912***4567")
    expect(page.locator("#tier")).to_contain_text("Self-declared (level 1)")

    # Level 2 from the civil registry, one button away.
    page.get_by_role("button", name="Verify with the civil registry").click()
    page.wait_for_url(f"{base}/account?done=verified")
    expect(page.get_by_role("status")).to_contain_text("The civil registry confirmed your details.")
    expect(page.locator("#tier")).to_contain_text("Confirmed with the civil registry (level 2)")
    expect(page.get_by_role("button", name="Verify with the civil registry")).to_have_count(0)

    # A service that stays connected: an authorization with offline access (the portal asks for the
    # password again), redeemed by the portal.
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    page.goto(f"{base}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": redirect_uri,
        "scope": "openid offline_access", "state": state, "prompt": "login",
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}))
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{redirect_uri}?**")
    with OAuth2Client("portal", idp.portal_secret, redirect_uri=redirect_uri, trust_env=False) as rp:
        token = rp.fetch_token(f"{base}/token", authorization_response=arrived[-1], state=state,
                               code_verifier=verifier)
    assert token["refresh_token"]
    page.goto(f"{base}/account")
    tabs.get_by_role("link", name="Connected services").click()
    page.wait_for_url(f"{base}/account/services")
    services = page.locator("li.service")
    expect(services).to_have_count(1)
    expect(services).to_contain_text("Tax portal")
    expect(services).to_contain_text("Keep you connected to this service when you are not using it")

    # A second device signs in; both are listed, this one marked.
    other, other_page, other_errors = _context(chromium, live_idp, user_agent=FIREFOX)
    other_page.goto(f"{base}/account/sessions")
    _sign_in(other_page, idp.national_code)
    other_page.wait_for_url(f"{base}/account/sessions")
    tabs.get_by_role("link", name="Where you're signed in").click()
    page.wait_for_url(f"{base}/account/sessions")
    sessions = page.locator("li.session")
    expect(sessions).to_have_count(2)
    expect(page.locator("li.session.current")).to_contain_text("This device")
    expect(page.locator("li.session.current .device")).to_have_text("Chrome on Linux")
    expect(sessions.filter(has_not_text="This device").locator(".device")).to_have_text("Firefox on Windows")

    # A new password: the other device is signed out, this one is not.
    tabs.get_by_role("link", name="Sign-in and security").click()
    page.wait_for_url(f"{base}/account/security")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    page.wait_for_url(f"{base}/account/security?done=password")
    expect(page.get_by_role("status")).to_have_text(
        "Your password was changed. You were signed out on your other devices.")
    other_page.reload()
    assert urlparse(other_page.url).path == "/login"
    tabs.get_by_role("link", name="Where you're signed in").click()
    expect(sessions).to_have_count(1)

    # Sign out everywhere: asked first, then the signed-out page, and the account asks to sign in again.
    page.get_by_role("button", name="Sign out everywhere", exact=True).click()
    expect(page.get_by_role("heading", name="Sign out everywhere?")).to_be_visible()
    page.get_by_role("button", name="Sign out everywhere", exact=True).click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert idp.services.cookies.session.name not in {c["name"] for c in context.cookies(base)}
    page.goto(f"{base}/account/history")
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code, NEW_PASSWORD)
    page.wait_for_url(f"{base}/account/history")
    events = page.locator("li.event .what")
    expect(events.first).to_have_text("Signed in")
    expect(page.locator("li.event", has_text="Session ended (signed out everywhere)")).to_have_count(1)
    expect(page.locator("li.event", has_text="Password changed")).to_have_count(1)

    assert errors == [] and other_errors == []
    other.close()
    context.close()
