"""Malformed input gets a clear 4xx answer: never a 500, a stack trace, or a redirect to an unknown URI."""

from __future__ import annotations

import os
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.idp.conftest import REDIRECT_URI, Idp, pkce_pair

# A longer run: IDP_FUZZ_EXAMPLES=2000 make test
FUZZ_EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES", "60"))


def test_unknown_client_gets_an_error_page_not_a_redirect(idp: Idp) -> None:
    r = idp.browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "nobody", "redirect_uri": "https://evil.example/cb", "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert "This request is not valid" in r.text


@pytest.mark.parametrize("uri", [REDIRECT_URI + "/", REDIRECT_URI.upper(), REDIRECT_URI + "?x=1",
                                 "https://evil.example/callback", ""])
def test_unregistered_redirect_uri_gets_an_error_page(sqlite_idp: Idp, uri: str) -> None:
    _, challenge = pkce_pair()
    r = sqlite_idp.browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": uri, "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert r.status_code == 400 and "location" not in r.headers


def test_unsupported_response_type_is_returned_to_the_registered_uri(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/authorize?" + urlencode({
        "response_type": "token", "client_id": "portal", "redirect_uri": REDIRECT_URI, "state": "x"}))
    assert r.status_code == 302
    assert r.headers["location"].startswith(REDIRECT_URI + "?error=unsupported_response_type")


def test_duplicated_parameters_are_invalid_request(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get(f"/authorize?client_id=portal&client_id=other&response_type=code"
                               f"&redirect_uri={REDIRECT_URI}")
    assert r.status_code in (302, 400)
    assert "code=" not in r.headers.get("location", "")


def test_token_endpoint_rejects_json_and_garbage_bodies(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.post("/token", content=b'{"grant_type": "client_credentials"}',
                                headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = sqlite_idp.browser.post("/token", content=b"\xff\xfe\x00garbage",
                                headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_userinfo_without_or_with_a_bad_token(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/userinfo")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = sqlite_idp.browser.get("/userinfo", headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
params = st.dictionaries(st.sampled_from([
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret",
    "scope", "resource", "client_assertion", "client_assertion_type", "token", "token_type_hint",
    "response_type", "state", "nonce", "prompt", "max_age", "acr_values", "response_mode", "code_challenge",
    "code_challenge_method", "id_token_hint", "post_logout_redirect_uri", "ui_locales", "login_hint",
]), text, max_size=8)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/token", "/introspect", "/revoke", "/authorize", "/end_session", "/login", "/userinfo"]),
       data=params, use_query=st.booleans())
def test_no_input_makes_the_server_fail(sqlite_idp: Idp, path: str, data: dict[str, str], use_query: bool) -> None:
    browser = sqlite_idp.browser
    r = browser.get(f"{path}?{urlencode(data)}") if use_query else browser.post(path, data=data)
    assert r.status_code < 500, (path, data, r.text[:300])
    assert "Traceback" not in r.text
    location = r.headers.get("location", "")
    assert not location or location.startswith(("/", REDIRECT_URI, "https://portal.example/")), location


def test_redirect_mismatch_is_an_error_page_on_every_backend(idp: Idp) -> None:
    _, challenge = pkce_pair()
    r = idp.browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": "https://evil.example/callback",
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert "redirect_uri is not registered" in r.text
