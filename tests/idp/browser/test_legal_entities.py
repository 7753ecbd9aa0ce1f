"""The "Act as" chooser in a real headless Chromium: a chief executive signs in to an agency portal
and acts for their company; the portal's ID token (checked with joserfc) names the company."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from levels.iranian_input import make_national_id
from tests.idp.browser import test_login as browser_login
from tests.idp.browser.harness import RelyingPartySite, relying_party_site
from tests.idp.browser.test_login import LiveIdp
from tests.idp.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

chromium = browser_login.chromium
live_idp = browser_login.live_idp


@pytest.fixture
def agency() -> Iterator[RelyingPartySite]:
    with relying_party_site("Agency") as site:
        yield site


def test_chief_executive_chooses_their_company_in_the_chooser(
    chromium: Browser, live_idp: LiveIdp, agency: RelyingPartySite
) -> None:
    from playwright.sync_api import expect

    base, idp, agency_redirect = live_idp.base_url, live_idp.idp, agency.callback
    acme = make_national_id("1038028479")
    idp.services.acting.entities.import_registry([RegistryEntity(
        acme, "Acme Trading Co", "private_joint_stock", EntityStatus.ACTIVE, None,
        (RegistryOfficer(idp.national_code, "ceo", frozenset({"*", "delegate"}), None, None),), line=1)],
        actor="test")
    secret = idp.add_client("agency", redirect_uris=[agency_redirect], scopes=["openid", "legal_entity"])
    verifier = secrets.token_urlsafe(48)
    authorize_url = f"{base}/authorize?" + urlencode({
        "response_type": "code", "client_id": "agency", "redirect_uri": agency_redirect,
        "scope": "openid legal_entity", "state": "st", "nonce": "n", "ui_locales": "en",
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    })

    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(authorize_url)
    page.get_by_label("National code").fill(idp.national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Act as")).to_be_visible()
    myself = page.get_by_role("button", name="Myself")
    company = page.get_by_role("button", name="Acme Trading Co")
    expect(myself).to_be_visible()
    expect(company).to_contain_text(acme)
    expect(company).to_contain_text("Chief executive")
    company.click()
    page.wait_for_url(f"{agency_redirect}?**")
    assert agency.arrived == [page.url]
    callback = page.url
    context.close()

    with OAuth2Client("agency", secret, redirect_uri=agency_redirect, trust_env=False) as rp:
        token = rp.fetch_token(f"{base}/token", authorization_response=callback, code_verifier=verifier)
    keys = KeySet.import_key_set(httpx.get(f"{base}/jwks", trust_env=False).json())
    claims = jwt.decode(token["id_token"], keys).claims
    assert claims["sub"] == idp.person_id
    assert claims["legal_entity"]["national_id"] == acme and claims["legal_entity"]["role"] == "ceo"
