"""Assurance levels at authorization: enforced, stepped up with only what is missing."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import CSRF_RE, ISSUER, REDIRECT_URI, TX_RE, Idp, pkce_pair, sign_in, submit_step

L2 = "urn:idp:loa:2"


def _authorize_url(verifier_challenge: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "st", "nonce": "n", "code_challenge": verifier_challenge, "code_challenge_method": "S256",
              "ui_locales": "en", **extra}
    return f"{ISSUER}/authorize?{urlencode(params)}"


def _redeem(idp: Idp, location: str, verifier: str) -> dict[str, object]:
    code = parse_qs(urlparse(location).query)["code"][0]
    r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    return dict(jwt.decode(r.json()["id_token"], keys).claims)


def test_level_two_asks_only_the_missing_sms_code_after_the_password(idp: Idp) -> None:
    idp.set_tier(2)
    verifier, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values=L2), idp.national_code)
    assert page.status_code == 200 and 'name="method" value="sms"' in page.text and "One-time code" in page.text
    assert "+98912***4567" in page.text
    done = submit_step(idp.browser, page.text, code=idp.last_sms_code())
    assert done.status_code == 303
    location = idp.browser.get(done.headers["location"]).headers["location"]
    claims = _redeem(idp, location, verifier)
    assert claims["acr"] == L2 and set(claims["amr"]) == {"pwd", "sms", "mfa"}


def test_session_at_level_one_is_stepped_up_without_asking_the_password_again(idp: Idp) -> None:
    idp.set_tier(2)
    verifier, challenge = pkce_pair()
    first = sign_in(idp.browser, _authorize_url(challenge), idp.national_code)
    assert "code=" in first.headers["location"]
    assert _redeem(idp, first.headers["location"], verifier)["acr"] == "urn:idp:loa:1"
    verifier, challenge = pkce_pair()
    r = idp.browser.get(_authorize_url(challenge, acr_values=L2))
    assert r.headers["location"].startswith("/login/step?")
    page = idp.browser.get(r.headers["location"])
    assert 'name="method" value="sms"' in page.text and 'name="password"' not in page.text


def test_wrong_sms_code_is_refused_and_guessing_is_stopped(sqlite_idp: Idp) -> None:
    sqlite_idp.set_tier(2)
    _, challenge = pkce_pair()
    page = sign_in(sqlite_idp.browser, _authorize_url(challenge, acr_values=L2), sqlite_idp.national_code)
    statuses = []
    for _ in range(6):
        r = submit_step(sqlite_idp.browser, page.text, code="000000")
        statuses.append(r.status_code)
    # A few tries, then a wait that grows until guessing from here stops.
    free = sqlite_idp.services.settings.login_failures_before_delay
    assert statuses == [400] * free + [429] * (6 - free)
    # Even the right code does not work while waiting.
    right = submit_step(sqlite_idp.browser, page.text, code=sqlite_idp.last_sms_code())
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0


def test_prompt_none_never_steps_up(idp: Idp) -> None:
    _, challenge = pkce_pair()
    sign_in(idp.browser, _authorize_url(challenge), idp.national_code)
    r = idp.browser.get(_authorize_url(challenge, acr_values=L2, prompt="none"))
    assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI + "?error=login_required")


def test_too_low_proofing_shows_how_to_raise_it_and_cancel_returns_unmet_requirements(idp: Idp) -> None:
    _, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values=L2), idp.national_code)
    assert page.status_code == 200 and "Verify your identity" in page.text
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = idp.browser.post("/login/cancel", data={"csrf_token": csrf, "tx": tx})
    assert r.status_code == 302
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert query["error"] == ["unmet_authentication_requirements"] and query["state"] == ["st"]
    assert query["iss"] == [ISSUER]


def test_client_minimum_level_is_enforced_without_acr_values(sqlite_idp: Idp) -> None:
    sqlite_idp.services.clients.update("portal", min_level=2)
    _, challenge = pkce_pair()
    page = sign_in(sqlite_idp.browser, _authorize_url(challenge), sqlite_idp.national_code)
    assert page.status_code == 200 and "Verify your identity" in page.text


def test_service_scope_raises_the_required_level(sqlite_idp: Idp) -> None:
    from clients.services import Service

    sqlite_idp.services.services.add(Service("portal", "tax.file", 2, 3600))
    sqlite_idp.services.clients.update("portal", scopes=["openid", "profile", "phone", "offline_access", "tax.file"])
    sqlite_idp.set_tier(2)
    _, challenge = pkce_pair()
    page = sign_in(sqlite_idp.browser, _authorize_url(challenge, scope="openid tax.file"), sqlite_idp.national_code)
    assert 'name="method" value="sms"' in page.text


def test_essential_acr_in_claims_parameter_is_enforced(sqlite_idp: Idp) -> None:
    sqlite_idp.set_tier(2)
    _, challenge = pkce_pair()
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [L2]}}})
    page = sign_in(sqlite_idp.browser, _authorize_url(challenge, claims=claims), sqlite_idp.national_code)
    assert 'name="method" value="sms"' in page.text


def test_unknown_acr_values_are_an_error_for_the_client(sqlite_idp: Idp) -> None:
    _, challenge = pkce_pair()
    r = sqlite_idp.browser.get(_authorize_url(challenge, acr_values="urn:other:gold"))
    assert r.status_code == 302 and "error=invalid_request" in r.headers["location"]


def test_refresh_never_raises_acr(idp: Idp) -> None:
    idp.set_tier(2)
    verifier, challenge = pkce_pair()
    first = sign_in(idp.browser, _authorize_url(challenge, scope="openid offline_access"), idp.national_code)
    code = parse_qs(urlparse(first.headers["location"]).query)["code"][0]
    tokens = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier}).json()
    # The browser session steps up to level 2 afterwards...
    _, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values=L2), idp.national_code)
    submit_step(idp.browser, page.text, code=idp.last_sms_code())
    # ...but the refresh token keeps the level of its own sign-in.
    refreshed = idp.browser.post("/token", auth=("portal", idp.portal_secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json()
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    assert jwt.decode(refreshed["id_token"], keys).claims["acr"] == "urn:idp:loa:1"


def test_registry_check_raises_proofing_then_only_the_sms_code_is_asked(idp: Idp) -> None:
    verifier, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values=L2), idp.national_code)
    assert "Verify with the registry now" in page.text
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    tx = TX_RE.search(page.text).group(1)  # type: ignore[union-attr]
    r = idp.browser.post("/login/proofing", data={"csrf_token": csrf, "tx": tx})
    assert r.status_code == 303
    step = idp.browser.get(idp.browser.get(r.headers["location"]).headers["location"])
    assert 'name="method" value="sms"' in step.text
    done = submit_step(idp.browser, step.text, code=idp.last_sms_code())
    claims = _redeem(idp, idp.browser.get(done.headers["location"]).headers["location"], verifier)
    assert claims["acr"] == L2
    assert idp.services.people.get(idp.person_id).proofing_tier == 2  # type: ignore[union-attr]
    assert [e.kind for e in idp.services.audit.recent(kind="proofing.tier_raised")] == ["proofing.tier_raised"]


def test_level_two_factors_go_stale_and_only_the_stale_ones_are_asked_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import time

    from idp.storage.migrate import upgrade
    from idp.storage.store import MemoryStore
    from tests.idp.conftest import _build, _settings

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"max_age_level2": 2, "max_age_level3": 1})
    idp = _build(settings, MemoryStore())
    idp.set_tier(2)
    _, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values=L2), idp.national_code)
    done = submit_step(idp.browser, page.text, code=idp.last_sms_code())
    assert "code=" in idp.browser.get(done.headers["location"]).headers["location"]
    time.sleep(2.2)
    # Both factors are now older than level 2 allows: the password is asked again first.
    r = idp.browser.get(_authorize_url(challenge, acr_values=L2))
    assert r.headers["location"].startswith("/login/step?")
    assert 'name="method" value="pwd"' in idp.browser.get(r.headers["location"]).text
    # Level 1 still holds (12 h): no question at all.
    assert "code=" in idp.browser.get(_authorize_url(challenge)).headers["location"]
    idp.services.engine.dispose()


def test_the_level_3_page_says_how_to_reach_it_and_links_to_the_counter_offices(idp: Idp) -> None:
    idp.set_tier(2)  # the registry check is done; only the counter office raises it further
    _, challenge = pkce_pair()
    page = sign_in(idp.browser, _authorize_url(challenge, acr_values="urn:idp:loa:3"), idp.national_code)
    assert page.status_code == 200 and "Verify your identity" in page.text
    assert "How to reach level 3" in page.text and 'href="/offices"' in page.text
    assert "Bring your national ID card" in page.text
