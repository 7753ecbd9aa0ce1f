"""Sign-in end to end in a real headless Chromium against the app served by uvicorn.

The relying party's redirect URI is a page served on loopback (tests.idp.browser.harness.RelyingPartySite),
so the browser really arrives there; the test reads the authorization response from the address
bar, then redeems the code with Authlib as the portal would.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.signin.login import WRONG_CREDENTIALS
from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code
from tests.idp.browser.harness import RelyingPartySite, launch_chromium, live_settings, relying_party_site, serve
from tests.idp.conftest import PASSWORD, Idp, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")



@dataclass
class LiveIdp:
    base_url: str
    idp: Idp
    portal: RelyingPartySite  # the "portal" client's only redirect URI is portal.callback


@pytest.fixture
def live_idp(tmp_path: Path) -> Iterator[LiveIdp]:
    """The real app on a loopback port; the issuer is that plain-http origin, so cookies are not
    Secure-only and the browser sends them back."""
    sock, settings = live_settings(tmp_path)
    base_url = settings.issuer
    assert not settings.secure_cookies
    idp = _build(settings, MemoryStore())
    try:
        with serve(create_app(settings, services=idp.services), sock), relying_party_site("Portal") as portal:
            idp.services.clients.update("portal", redirect_uris=[portal.callback])
            yield LiveIdp(base_url, idp, portal)
    finally:
        idp.services.engine.dispose()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


def test_citizen_signs_in_with_persian_digits_in_a_real_browser(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    base, idp, redirect_uri = live_idp.base_url, live_idp.idp, live_idp.portal.callback
    verifier = secrets.token_urlsafe(48)
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    authorize_url = f"{base}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": redirect_uri,
        "scope": "openid profile", "state": state, "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    })

    context = chromium.new_context()
    arrived = live_idp.portal.arrived
    page = context.new_page()
    page.set_default_timeout(10_000)
    html = page.locator("html")

    # Persian, right to left, unless the person or the client asks otherwise.
    page.goto(authorize_url)
    expect(page).to_have_url(re.compile(r"/login\?tx="))
    expect(html).to_have_attribute("lang", "fa")
    expect(html).to_have_attribute("dir", "rtl")
    expect(page.locator("label[for=national_code]")).to_have_text("کد ملی")

    page.get_by_role("link", name="English").click()
    expect(html).to_have_attribute("lang", "en")
    expect(html).to_have_attribute("dir", "ltr")
    national_code = page.get_by_label("National code")
    password = page.get_by_label("Password")
    sign_in = page.get_by_role("button", name="Sign in")
    expect(national_code).to_be_visible()
    expect(password).to_be_visible()
    expect(sign_in).to_be_visible()

    # A wrong password and an unknown person get the same answer, and nothing more.
    answers: list[tuple[int, str]] = []
    unknown_person = make_national_code("987654321")
    for code, secret in [(idp.national_code, "not the password"), (unknown_person, PASSWORD)]:
        national_code.fill(code)
        password.fill(secret)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            sign_in.click()
        alert = page.get_by_role("alert")
        expect(alert).to_have_text(WRONG_CREDENTIALS)
        expect(html).to_have_attribute("lang", "en")  # the language chosen above is remembered
        expect(password).to_have_value("")
        assert secret not in page.content()
        answers.append((posted.value.status, alert.inner_text()))
    assert answers[0] == answers[1] and answers[0][0] == 400
    assert urlparse(page.url).path == "/login" and not arrived
    session_cookie = idp.services.cookies.session.name
    assert session_cookie == "idp_session"  # plain name on a plain-http loopback issuer
    assert session_cookie not in {c["name"] for c in context.cookies(base)}

    national_code.fill(idp.national_code.translate(PERSIAN_DIGITS))
    password.fill(PASSWORD)
    sign_in.click()
    page.wait_for_url(f"{redirect_uri}?**")
    callback = page.url
    assert arrived == [callback]
    response = parse_qs(urlparse(callback).query)
    assert set(response) == {"code", "state", "iss"}
    assert response["state"] == [state] and response["iss"] == [base]

    cookies = {c["name"]: c for c in context.cookies(base)}
    session = cookies[session_cookie]
    assert session["httpOnly"] is True and session["sameSite"] == "Lax"
    assert session["secure"] is False  # plain-http loopback issuer only
    context.close()

    with OAuth2Client("portal", idp.portal_secret, redirect_uri=redirect_uri, trust_env=False) as rp:
        token = rp.fetch_token(f"{base}/token", authorization_response=callback, state=state,
                               code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(f"{base}/jwks", trust_env=False).json())
    claims = jwt.decode(token["id_token"], keys).claims
    assert claims["sub"] == idp.person_id
    assert claims["iss"] == base and claims["aud"] == "portal" and claims["nonce"] == nonce


def test_form_post_response_reaches_the_client_in_a_real_browser(chromium: Browser, live_idp: LiveIdp) -> None:
    """response_mode=form_post: after the sign-in form, the response page posts the code to the
    client; the page's CSP (form-action) lets exactly that through, with no violation reported."""

    base, idp, portal = live_idp.base_url, live_idp.idp, live_idp.portal
    redirect_uri = portal.callback
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    authorize_url = f"{base}/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": redirect_uri, "scope": "openid",
        "state": state, "nonce": "n", "response_mode": "form_post", "ui_locales": "en",
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    })
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if message.type == "error" else None)

    page.goto(authorize_url)
    page.get_by_label("National code").fill(idp.national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(redirect_uri)
    assert violations == []
    [(url, body)] = portal.posted
    assert url == redirect_uri and not portal.arrived
    response = parse_qs(body)
    assert set(response) == {"code", "state", "iss"}
    assert response["state"] == [state] and response["iss"] == [base]
    context.close()

    callback = f"{redirect_uri}?{urlencode({k: v[0] for k, v in response.items()})}"
    with OAuth2Client("portal", idp.portal_secret, redirect_uri=redirect_uri, trust_env=False) as rp:
        token = rp.fetch_token(f"{base}/token", authorization_response=callback, state=state,
                               code_verifier=verifier)
    assert "id_token" in token
