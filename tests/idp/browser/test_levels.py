"""Assurance-level step-up end to end in a real headless Chromium, one browser (one SSO session).

The app is served by uvicorn on 127.0.0.1 but browsed as http://localhost:PORT, the issuer: that is
a secure context whose host is the passkey RP ID ("localhost"), so WebAuthn runs against a CDP
virtual authenticator. The relying party's redirect URI is a page on loopback as in
test_browser_login; each code is redeemed with Authlib and the ID token's acr/amr are checked.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pyotp
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.storage.store import MemoryStore
from idp.web.app import create_app
from tests.idp.browser import test_login as browser_login
from tests.idp.browser.harness import live_settings, relying_party_site, serve
from tests.idp.browser.test_login import LiveIdp
from tests.idp.conftest import PASSWORD, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Frame, Page

pytestmark = pytest.mark.browser

chromium = browser_login.chromium  # the same fixture: Debian Chromium, never downloaded; fails under CI=true

LOA = {level: f"urn:idp:loa:{level}" for level in (1, 2, 3)}


@pytest.fixture
def live_idp(tmp_path: Path) -> Iterator[LiveIdp]:
    """The app on a loopback port with issuer http://localhost:PORT (rp_id "localhost", plain-http
    cookies) and the SMS outbox in tmp_path."""
    sock, settings = live_settings(tmp_path, host="localhost")
    base_url = settings.issuer
    idp = _build(settings, MemoryStore())
    try:
        with serve(create_app(settings, services=idp.services), sock), relying_party_site("Portal") as portal:
            idp.services.clients.update("portal", redirect_uris=[portal.callback])
            yield LiveIdp(base_url, idp, portal)
    finally:
        idp.services.engine.dispose()


class Portal:
    """The relying party: starts authorizations in the browser and redeems the codes."""

    def __init__(self, live: LiveIdp, context: BrowserContext, page: Page) -> None:
        self.base, self.idp, self.page = live.base_url, live.idp, page
        self.redirect_uri, self.arrived = live.portal.callback, live.portal.arrived
        self.visited: list[str] = []  # paths of the IdP pages the browser was shown
        self._pending: dict[str, tuple[str, str]] = {}

        def navigated(frame: Frame) -> None:
            if frame.url.startswith(self.base):
                self.visited.append(urlparse(frame.url).path)

        context.add_cookies([{"name": self.idp.services.cookies.lang.name, "value": "en", "url": self.base}])
        page.on("framenavigated", navigated)

    def authorize(self, acr_values: str | None = None) -> None:
        verifier, state, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {
            "response_type": "code", "client_id": "portal", "redirect_uri": self.redirect_uri, "scope": "openid",
            "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
        }
        if acr_values:
            params["acr_values"] = acr_values
        self._pending[state] = (verifier, nonce)
        self.visited.clear()
        self.page.goto(f"{self.base}/authorize?{urlencode(params)}")

    def id_token(self) -> dict[str, Any]:
        """Wait for the browser to land on the redirect URI with a code; redeem it; the ID token claims."""
        self.page.wait_for_url(f"{self.redirect_uri}?**")
        callback = self.page.url
        assert self.arrived[-1] == callback
        query = {key: values[0] for key, values in parse_qs(urlparse(callback).query).items()}
        assert "code" in query and "error" not in query and query["iss"] == self.base, callback
        verifier, nonce = self._pending.pop(query["state"])
        with OAuth2Client("portal", self.idp.portal_secret, redirect_uri=self.redirect_uri, trust_env=False) as rp:
            token = rp.fetch_token(f"{self.base}/token", authorization_response=callback,
                                   state=query["state"], code_verifier=verifier)
        keys = KeySet.import_key_set(httpx.get(f"{self.base}/jwks", trust_env=False).json())
        claims = jwt.decode(token["id_token"], keys).claims
        assert claims["sub"] == self.idp.person_id and claims["nonce"] == nonce and claims["iss"] == self.base
        return claims


def _sign_in(page: Page, national_code: str) -> None:
    page.get_by_label("National code").fill(national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _browser(chromium: Browser, live: LiveIdp) -> tuple[BrowserContext, Page, Portal]:
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page, Portal(live, context, page)


def test_levels_1_2_3_step_up_in_one_browser_session(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    idp, base = live_idp.idp, live_idp.base_url
    context, page, portal = _browser(chromium, live_idp)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})["authenticatorId"]
    password_inputs = page.locator("input[type=password]")
    code_input = page.locator("input#code")

    # Level 1: national code and password.
    portal.authorize()
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code)
    claims = portal.id_token()
    assert "/login" in portal.visited
    assert claims["acr"] == LOA[1] and claims["amr"] == ["pwd"]

    # Level 2 (P2): the session's password counts; only an SMS code is asked.
    idp.set_tier(2)
    portal.authorize(LOA[2])
    assert urlparse(page.url).path == "/login/step"
    expect(page.get_by_label("One-time code")).to_be_visible()
    expect(password_inputs).to_have_count(0)
    assert page.evaluate("window.isSecureContext")
    page.get_by_label("One-time code").fill(idp.last_sms_code())
    page.get_by_role("button", name="Continue").click()
    claims = portal.id_token()
    assert "/login/step" in portal.visited and "/login" not in portal.visited
    assert claims["acr"] == LOA[2]
    assert {"pwd", "sms", "mfa"} <= set(claims["amr"])

    # A passkey from the account page, with the virtual authenticator.
    page.goto(f"{base}/account/security")
    assert urlparse(page.url).path == "/account/security"
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url(f"{base}/account/security?added=passkey")
    expect(page.get_by_role("status")).to_have_text("Your passkey was added.")
    assert len(idp.services.passkeys.list(idp.person_id)) == 1
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1

    # Level 3 (P3, in person): only the passkey is asked — no password, no SMS code.
    idp.services.proofing.verify_in_person(idp.national_code, operator="op-1", document="idcard:1234567890")
    sms_lines = idp.services.settings.sms_outbox.read_text(encoding="utf-8").count("\n")
    portal.authorize(LOA[3])
    assert urlparse(page.url).path == "/login/step"
    use_passkey = page.get_by_role("button", name="Use a passkey")
    expect(use_passkey).to_be_visible()
    expect(password_inputs).to_have_count(0)
    expect(code_input).to_have_count(0)
    use_passkey.click()
    claims = portal.id_token()
    assert "/login/step" in portal.visited and "/login" not in portal.visited
    assert idp.services.settings.sms_outbox.read_text(encoding="utf-8").count("\n") == sms_lines
    assert claims["acr"] == LOA[3]
    assert {"hwk", "user", "mfa"} <= set(claims["amr"])
    context.close()


def test_authenticator_app_enrolment_then_level_2_asks_its_code_once(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    idp, base = live_idp.idp, live_idp.base_url
    idp.set_tier(2)
    context, page, portal = _browser(chromium, live_idp)

    # The account page asks to sign in first, then comes back.
    page.goto(f"{base}/account/security")
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/account/security")

    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator("p.hint code").inner_text().strip()
    totp = pyotp.TOTP(secret)
    step = int(time.time() // 30)
    enrolment_code = totp.at(step * 30)
    page.get_by_label("Authenticator code").fill(enrolment_code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Your authenticator app is set up.")).to_be_visible()
    recovery_codes = page.locator("ul.codes li")
    expect(recovery_codes).to_have_count(10)
    assert len(set(recovery_codes.all_inner_texts())) == 10
    assert idp.services.credentials.has_totp(idp.person_id)

    # Level 2: the app's code is preferred over an SMS code; the password of this session counts.
    portal.authorize(LOA[2])
    assert urlparse(page.url).path == "/login/step"
    code = page.get_by_label("Authenticator code")
    expect(code).to_be_visible()
    expect(page.get_by_label("One-time code")).to_have_count(0)
    expect(page.locator("input[type=password]")).to_have_count(0)

    # The code already used at enrolment is refused, even while its time step is still valid.
    code.fill(enrolment_code)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Continue").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_have_text("That code is not correct.")
    assert not portal.arrived

    # The next time step's code is within the clock-drift window and was never used.
    code.fill(totp.at((step + 1) * 30))
    page.get_by_role("button", name="Continue").click()
    claims = portal.id_token()
    assert "/login/step" in portal.visited and "/login" not in portal.visited
    assert claims["acr"] == LOA[2]
    assert {"pwd", "otp", "mfa"} <= set(claims["amr"]) and "sms" not in claims["amr"]
    assert not idp.services.settings.sms_outbox.exists()
    context.close()
