"""Connected services (`idp.account.connected_services`): the services holding a consent or a
refresh token, and disconnecting one."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from authlib.integrations.base_client import OAuthError

from idp.account import connected_services as account_services
from idp.web.i18n import load_translations
from tests.idp.account.helpers import (
    page_text,
    post_form,
    sign_in_at,
)
from tests.idp.conftest import CSRF_RE, ISSUER, Idp, pkce_pair
from tests.idp.flows import user_tokens


def test_disconnecting_a_service_ends_its_tokens_and_consent(idp: Idp) -> None:
    idp.add_client("shop", name="Online pharmacy", scopes=["openid", "profile"], require_consent=True)
    tokens = user_tokens(idp)  # the portal stays connected with a refresh token
    idp.services.consents.grant(idp.person_id, "shop", ["openid", "profile"])

    page = page_text(idp.browser.get("/account/services?lang=en").text)
    assert "Tax portal" in page and "Keep you connected to this service when you are not using it" in page
    assert "Online pharmacy" in page and "Your name and date of birth" in page and "Allowed on" in page

    done = post_form(idp.browser, "/account/services/revoke", client_id="portal", confirm="yes")
    assert done.status_code == 303 and done.headers["location"] == "/account/services?done=disconnected"
    page = page_text(idp.browser.get(done.headers["location"]).text)
    assert "The service was disconnected." in page and "Tax portal" not in page and "Online pharmacy" in page
    with pytest.raises(OAuthError) as refused:
        idp.oauth().refresh_token(f"{ISSUER}/token", refresh_token=tokens["refresh_token"])
    assert refused.value.error == "invalid_grant"
    intro = idp.browser.post("/introspect", auth=("portal", idp.portal_secret), data={"token": tokens["access_token"]})
    assert intro.json() == {"active": False}

    assert post_form(idp.browser, "/account/services/revoke", client_id="shop", confirm="yes").status_code == 303
    assert "No service is connected to your account." in page_text(idp.browser.get("/account/services?lang=en").text)
    # The pharmacy must ask again.
    _, challenge = pkce_pair()
    again = idp.browser.get(f"{ISSUER}/authorize?" + urlencode({
        "response_type": "code", "client_id": "shop", "redirect_uri": "https://shop.example/callback",
        "scope": "openid profile", "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert again.status_code == 302 and again.headers["location"].startswith("/login/consent?")
    disconnected = idp.services.audit.recent(kind="service.disconnected")
    assert sorted(e.client_id for e in disconnected) == ["portal", "shop"]


def test_a_service_that_is_not_connected_cannot_be_disconnected(idp: Idp) -> None:
    sign_in_at(idp.browser, idp.national_code)
    r = post_form(idp.browser, "/account/services/revoke", client_id="portal")
    assert r.status_code == 400
    assert idp.services.audit.recent(kind="service.disconnected") == []


def test_every_sentence_the_services_page_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [account_services.DISCONNECTED, account_services.NOT_CONNECTED, account_services.CONFIRM_DISCONNECT,
                account_services.CONFIRM_DISCONNECT_DETAIL]
    assert [m for m in messages if persian.gettext(m) == m] == []


def test_disconnecting_asks_first_and_cancel_keeps_the_service(idp: Idp) -> None:
    tokens = user_tokens(idp)
    idp.browser.get("/account/services?lang=en")
    asked = post_form(idp.browser, "/account/services/revoke", client_id="portal")
    assert asked.status_code == 200
    text = page_text(asked.text)
    assert "Disconnect this service?" in text and "Tax portal" in text
    # The confirmation form resubmits the same service with this browser's CSRF token.
    assert re.search(r'name="client_id" value="portal"', asked.text)
    assert re.search(r'name="confirm" value="yes"', asked.text)
    assert CSRF_RE.search(asked.text)
    assert 'href="/account/services"' in asked.text  # Cancel goes back, changing nothing
    # Not yet disconnected: the refresh token still works.
    assert "portal" in idp.services.refresh_tokens.clients_of(idp.person_id)
    assert idp.services.audit.recent(kind="service.disconnected") == []
    assert tokens["refresh_token"]

    csrf = CSRF_RE.search(asked.text)
    assert csrf
    done = idp.browser.post("/account/services/revoke", data={
        "csrf_token": csrf.group(1), "client_id": "portal", "confirm": "yes"})
    assert done.status_code == 303 and "portal" not in idp.services.refresh_tokens.clients_of(idp.person_id)


def test_a_confirmation_without_a_valid_csrf_token_changes_nothing(idp: Idp) -> None:
    user_tokens(idp)
    r = idp.browser.post("/account/services/revoke", data={"client_id": "portal", "confirm": "yes",
                                                           "csrf_token": "forged"})
    assert r.status_code == 400
    assert "portal" in idp.services.refresh_tokens.clients_of(idp.person_id)


def test_services_are_named_in_the_page_language_on_the_services_sessions_and_activity_pages(idp: Idp) -> None:
    idp.services.clients.update("portal", name_fa="سامانهٔ مالیاتی", name_en="Tax administration")
    user_tokens(idp)  # the portal is connected, used in this session and in the activity list
    for path in ("/account/services", "/account/sessions", "/account/history"):
        english = page_text(idp.browser.get(f"{path}?lang=en").text)
        persian = page_text(idp.browser.get(f"{path}?lang=fa").text)
        assert "Tax administration" in english and "سامانهٔ مالیاتی" not in english, path
        assert "سامانهٔ مالیاتی" in persian and "Tax administration" not in persian, path
