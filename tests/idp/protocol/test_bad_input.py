"""Malformed input gets a clear 4xx answer: never a 500, a stack trace, or a redirect to an unknown URI.

Limits on the size and repetition of each parameter are tested with their table, in
tests/idp/web/test_input_limits.py; the reading of url-encoded bodies in tests/idp/oauth/test_request.py."""

from __future__ import annotations

import base64
import os
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.idp.conftest import (
    ISSUER,
    REDIRECT_URI,
    Idp,
    pkce_pair,
)
from tests.idp.flows import authorization_params, error_at_client, stored_sizes, user_tokens

# A longer run: IDP_FUZZ_EXAMPLES=2000 make test
FUZZ_EXAMPLES = int(os.environ.get("IDP_FUZZ_EXAMPLES", "120"))


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


def test_userinfo_without_or_with_a_bad_token(sqlite_idp: Idp) -> None:
    r = sqlite_idp.browser.get("/userinfo")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = sqlite_idp.browser.get("/userinfo", headers={"Authorization": "Bearer a.b.c"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


def test_redirect_mismatch_is_an_error_page_on_every_backend(idp: Idp) -> None:
    _, challenge = pkce_pair()
    r = idp.browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": "https://evil.example/callback",
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert "redirect_uri is not registered" in r.text


# --- Malformed authorization requests ----------------------------------------------------------------

MALFORMED = [
    ("max_age", "abc", "max_age must be a non-negative whole number"),
    ("max_age", "²", "max_age must be a non-negative whole number"),
    ("max_age", "-1", "max_age must be a non-negative whole number"),
    ("max_age", "1.5", "max_age must be a non-negative whole number"),
    ("max_age", "12345678901", "The max_age parameter is too long"),
    ("claims", "not json", "claims parameter must be a JSON object"),
    ("claims", "[1, 2]", "claims parameter must be a JSON object"),
    ("claims", '{"id_token": "acr"}', "claims parameter must be a JSON object of JSON objects"),
    ("claims", "[" * 2000 + "]" * 2000, "claims parameter must be a JSON object"),
    ("claims", '{"userinfo": {"x": "' + "y" * 5000 + '"}}', "The claims parameter is too long"),
    ("prompt", "none login", "prompt=none cannot be combined"),
    ("response_mode", "fragment", "response_mode must be one of"),
]


def test_malformed_values_are_invalid_request_at_the_client(idp: Idp) -> None:
    before = stored_sizes(idp)
    for name, value, says in MALFORMED:
        error = error_at_client(idp.browser.get("/authorize?" + urlencode(authorization_params(**{name: value}))))
        assert error["error"] == "invalid_request", (name, value[:40], error)
        assert says in error["error_description"], (name, value[:40], error)
        assert error["state"] == "s"
    assert stored_sizes(idp) == before


def _request_object() -> str:
    key = ECKey.generate_key("P-256")
    return jwt.encode({"alg": "ES256"}, {"iss": "portal", "aud": ISSUER, "response_type": "code",
                                         "client_id": "portal", "scope": "openid"}, key)


@pytest.mark.parametrize(("name", "code"), [("request", "invalid_request_object"),
                                            ("request_uri", "invalid_request_uri")])
def test_unusable_request_objects_and_request_uris_are_refused_on_a_page(idp: Idp, name: str, code: str) -> None:
    """The portal has no keys to sign a request object with, and request_uri names only pushed requests
    (RFC 9126): nothing is stored, and nothing goes to a redirect URI nothing trustworthy named."""
    before = stored_sizes(idp)
    oauth = idp.oauth(state="s")
    value = _request_object() if name == "request" else "https://portal.example/request.jwt"
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier="v" * 64, **{name: value})
    r = idp.browser.get(url)
    assert r.status_code == 400 and "location" not in r.headers
    assert code in r.text
    assert stored_sizes(idp) == before


def test_the_registration_parameter_is_refused_at_the_client(idp: Idp) -> None:
    error = error_at_client(idp.browser.get("/authorize?" + urlencode(authorization_params(registration="{}"))))
    assert error["error"] == "registration_not_supported" and error["state"] == "s"


# --- Token, introspection and revocation endpoints ---------------------------------------------------

def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


MALFORMED_BASIC = [
    "Basic !!!not-base64!!!",
    "Basic cG9ydGFs=bad",
    _basic(b"\xff\xfe:\x80secret"),  # not UTF-8 once decoded
    _basic(b"portal-without-a-colon"),
    _basic(b":secret-without-client-id"),
    _basic(b"portal:"),
    _basic(b"portal%zz:secret"),  # not percent-encoding
    _basic(b"portal:%ff%fe"),  # percent-decodes to bytes that are not UTF-8
    _basic(b"portal\x00:secret"),
    "Basic",
    "Basic ",
]


@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_malformed_basic_credentials_are_invalid_client(idp: Idp, path: str) -> None:
    for header in MALFORMED_BASIC:
        r = idp.browser.post(path, data={"grant_type": "client_credentials", "token": "t"},
                             headers={"Authorization": header})
        assert r.status_code == 401, (header, r.status_code, r.text)
        body = r.json()
        assert body["error"] == "invalid_client" and body["error_description"], (header, body)
        assert r.headers["www-authenticate"].startswith("Basic "), header
        assert 'error="invalid_client"' in r.headers["www-authenticate"]
    # Well-formed credentials, percent-encoded as RFC 6749 §2.3.1 says, still work.
    token = user_tokens(idp)["access_token"]
    encoded = _basic(f"%70ortal:{quote(idp.portal_secret)}".encode())
    r = idp.browser.post("/introspect", data={"token": token}, headers={"Authorization": encoded})
    assert r.status_code == 200 and r.json()["active"] is True


# --- A bounded fuzz pass: no input makes the server fail ----------------------------------------------

_NAMES = st.sampled_from([
    "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret",
    "scope", "resource", "client_assertion", "client_assertion_type", "token", "token_type_hint",
    "response_type", "state", "nonce", "prompt", "max_age", "acr_values", "response_mode", "code_challenge",
    "code_challenge_method", "id_token_hint", "post_logout_redirect_uri", "ui_locales", "login_hint", "claims",
    "request", "request_uri", "registration", "tx", "csrf_token", "national_code", "password", "other",
])
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
_VALUES = st.one_of(
    st.text(alphabet=_CHARS, max_size=40),
    st.sampled_from(["portal", REDIRECT_URI, "code", "S256", "openid", "client_credentials", "authorization_code",
                     "refresh_token", "none", "form_post", "{}", '{"id_token": {"acr": {"essential": true}}}',
                     "k" * 43, "²"]),
    # Long values: one character repeated up to well past every limit.
    st.builds(lambda char, n: char * n, _CHARS, st.integers(min_value=100, max_value=70_000)),
)
_HEADERS = st.one_of(
    st.none(),
    st.binary(max_size=30).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map("Basic ".__add__),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30).map("Bearer ".__add__),
)


@settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(path=st.sampled_from(["/token", "/introspect", "/revoke", "/par", "/authorize", "/end_session", "/login",
                             "/userinfo"]),
       pairs=st.lists(st.tuples(_NAMES, _VALUES), max_size=8), authorization=_HEADERS, use_query=st.booleans())
def test_no_input_makes_the_server_fail(
    idp: Idp, path: str, pairs: list[tuple[str, str]], authorization: str | None, use_query: bool,
) -> None:
    browser = idp.browser
    headers = {"Authorization": authorization} if authorization is not None else {}
    query = urlencode(pairs)
    if use_query and len(query) < 60_000:  # httpx itself refuses URLs over 64 KiB
        r = browser.get(f"{path}?{query}", headers=headers)
    else:
        r = browser.post(path, content=query.encode(), headers={
            **headers, "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code < 500, (path, pairs, authorization, r.text[:300])
    assert "Traceback" not in r.text
    location = r.headers.get("location", "")
    assert not location or location.startswith(("/", REDIRECT_URI, "https://portal.example/")), location
