"""Malformed input gets a clear 4xx answer: never a 500, a stack trace, or a redirect to an unknown URI."""

from __future__ import annotations

import base64
import os
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey

from idp.storage.store import MemoryStore
from tests.idp.conftest import (
    CSRF_RE,
    ISSUER,
    PASSWORD,
    REDIRECT_URI,
    TX_RE,
    Idp,
    pkce_pair,
    sign_in,
    submit_login,
)
from tests.idp.flows import user_tokens

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


def test_redirect_mismatch_is_an_error_page_on_every_backend(idp: Idp) -> None:
    _, challenge = pkce_pair()
    r = idp.browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": "https://evil.example/callback",
        "scope": "openid", "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert "redirect_uri is not registered" in r.text


# --- Bounded input: nothing oversized is stored, echoed or answered with a 500 ----------------------

HUGE = "x" * 30_000


def _authorization(**overrides: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return params


def _stored(idp: Idp) -> dict[str, int]:
    """Every key of the provider's ephemeral store (only this test's: its own MemoryStore or Redis
    prefix) with the size of its value."""
    store = idp.services.store
    if isinstance(store, MemoryStore):
        return {key: len(value) if isinstance(value, bytes) else 0 for key, (value, _) in store._data.items()}
    client = store._redis  # type: ignore[attr-defined]
    prefix = store._prefix  # type: ignore[attr-defined]
    return {key.decode(): client.strlen(key) for key in client.scan_iter(match=prefix + "*")}


def _error_at_client(r: httpx.Response) -> dict[str, str]:
    """The authorization error response delivered to the client's redirect URI."""
    assert r.status_code == 302, r.text[:300]
    location = r.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location[:200]
    params = parse_qs(urlsplit(location).query)
    assert all(len(values) == 1 for values in params.values())
    return {key: values[0] for key, values in params.items()}


def test_a_sign_in_stores_its_request_while_the_person_signs_in(idp: Idp) -> None:
    """What the tests below measure: an acceptable request does store its parameters."""
    before = _stored(idp)
    r = idp.browser.get("/authorize?" + urlencode(_authorization(state="s" * 2000)))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    assert sum(_stored(idp).values()) - sum(before.values()) > 2000


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint"])
def test_an_oversized_value_is_refused_and_nothing_is_stored(idp: Idp, name: str) -> None:
    before = _stored(idp)
    params = _authorization(**{name: HUGE})
    for r in (idp.browser.get("/authorize?" + urlencode(params)), idp.browser.post("/authorize", data=params)):
        error = _error_at_client(r)
        assert error["error"] == "invalid_request"
        assert f"The {name} parameter is too long" in error["error_description"]
        assert error["iss"] == ISSUER
        # The oversized state is not echoed; a state within its limit is.
        assert error.get("state") == (None if name == "state" else "s")
        assert HUGE not in r.headers["location"]
    assert _stored(idp) == before


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_an_oversized_client_id_or_redirect_uri_gets_an_error_page(idp: Idp, name: str) -> None:
    before = _stored(idp)
    value = "portal" + "x" * 200 if name == "client_id" else REDIRECT_URI + "?" + "x" * 3000
    r = idp.browser.get("/authorize?" + urlencode({**_authorization(**{name: value}), "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers
    assert f"The {name} parameter is too long" in r.text
    assert _stored(idp) == before


def test_a_request_too_large_in_all_is_refused(idp: Idp) -> None:
    before = _stored(idp)
    # Each value within its own limit, together over MAX_AUTHORIZATION_REQUEST.
    params = _authorization(state="s" * 2000, claims='{"userinfo": {"x": "' + "y" * 4000 + '"}}',
                            id_token_hint="h" * 3000)
    error = _error_at_client(idp.browser.get("/authorize?" + urlencode(params)))
    assert error["error"] == "invalid_request" and "too large" in error["error_description"]
    assert error["state"] == "s" * 2000
    assert _stored(idp) == before


def test_unknown_parameters_are_ignored_and_not_stored(idp: Idp) -> None:
    r = idp.browser.get("/authorize?" + urlencode({**_authorization(), "tracking": "t" * 40_000}))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx=")
    assert max(_stored(idp).values()) < 2000


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
    before = _stored(idp)
    for name, value, says in MALFORMED:
        error = _error_at_client(idp.browser.get("/authorize?" + urlencode(_authorization(**{name: value}))))
        assert error["error"] == "invalid_request", (name, value[:40], error)
        assert says in error["error_description"], (name, value[:40], error)
        assert error["state"] == "s"
    assert _stored(idp) == before


def test_duplicated_parameters_are_invalid_request(idp: Idp) -> None:
    before = _stored(idp)
    for name in ["nonce", "state", "code_challenge", "prompt", "max_age", "claims", "response_type"]:
        pairs = list(_authorization(prompt="login", max_age="60", claims="{}").items())
        pairs.append((name, dict(pairs)[name]))
        error = _error_at_client(idp.browser.get("/authorize?" + urlencode(pairs)))
        assert error["error"] == "invalid_request", name
        assert error["error_description"] == f"The {name} parameter must not be included more than once."
        # Which of two states would the client expect back? Neither is echoed.
        assert error.get("state") == (None if name == "state" else "s")
    for name in ["client_id", "redirect_uri"]:  # the client or its redirect URI is in doubt: a page
        pairs = list(_authorization().items())
        pairs.append((name, dict(pairs)[name]))
        r = idp.browser.get("/authorize?" + urlencode([*pairs, ("lang", "en")]))
        assert r.status_code == 400 and "location" not in r.headers
        assert f"The {name} parameter must not be included more than once." in r.text
    assert _stored(idp) == before


def _request_object() -> str:
    key = ECKey.generate_key("P-256")
    return jwt.encode({"alg": "ES256"}, {"iss": "portal", "aud": ISSUER, "response_type": "code",
                                         "client_id": "portal", "scope": "openid"}, key)


@pytest.mark.parametrize(("name", "code"), [("request", "request_not_supported"),
                                            ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_at_the_client(idp: Idp, name: str, code: str) -> None:
    before = _stored(idp)
    oauth = idp.oauth(state="s")
    value = _request_object() if name == "request" else "https://portal.example/request.jwt"
    url, state = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier="v" * 64, **{name: value})
    error = _error_at_client(idp.browser.get(url))
    assert error["error"] == code and error["error_description"]
    assert error["state"] == state
    assert _stored(idp) == before
    # With a client we cannot trust, the person sees a page and nothing goes anywhere.
    r = idp.browser.get("/authorize?" + urlencode({**_authorization(redirect_uri="https://evil.example/cb"),
                                                   name: value, "lang": "en"}))
    assert r.status_code == 400 and "location" not in r.headers


def test_discovery_says_request_objects_are_not_supported(idp: Idp) -> None:
    meta = idp.browser.get("/.well-known/openid-configuration").json()
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is False


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


def test_malformed_code_verifier_does_not_use_up_the_code(idp: Idp) -> None:
    verifier = "k" * 64
    oauth = idp.oauth()
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    auth = {"Authorization": _basic(f"portal:{idp.portal_secret}".encode())}
    for bad in ["short", "k" * 129, "k" * 60 + "+/=!"]:
        r = idp.browser.post("/token", headers=auth, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
        assert "code_verifier" in r.json()["error_description"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier)
    assert token["access_token"] and token["id_token"]


def test_oversized_back_channel_parameters_are_invalid_request(idp: Idp) -> None:
    for path, name, size in [
        ("/token", "code", 200), ("/token", "refresh_token", 200), ("/token", "scope", 3000),
        ("/token", "resource", 3000), ("/token", "client_assertion", 9000), ("/token", "redirect_uri", 3000),
        ("/introspect", "token", 9000), ("/revoke", "token", 9000), ("/revoke", "token_type_hint", 100),
    ]:
        data = {"grant_type": "refresh_token", "client_id": "portal", "client_secret": idp.portal_secret,
                name: "a" * size}
        r = idp.browser.post(path, data=data)
        assert r.status_code == 400, (path, name, r.text)
        assert r.json()["error"] == "invalid_request"
        assert f"The {name} parameter is too long" in r.json()["error_description"], (path, name)


def test_duplicated_back_channel_parameters_are_invalid_request(idp: Idp) -> None:
    r = idp.browser.post("/token", content=f"grant_type=client_credentials&grant_type=refresh_token"
                                           f"&client_id=portal&client_secret={idp.portal_secret}".encode(),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "grant_type" in r.json()["error_description"]


# --- Our own forms --------------------------------------------------------------------------------------

def test_an_oversized_sign_in_field_is_refused_and_the_sign_in_goes_on(idp: Idp) -> None:
    r = idp.browser.get("/authorize?" + urlencode(_authorization()))
    page = idp.browser.get(r.headers["location"] + "&lang=en")
    csrf = CSRF_RE.search(page.text)
    tx = TX_RE.search(page.text)
    assert csrf and tx
    for field, value in [("password", "p" * 1025), ("national_code", "1" * 33), ("csrf_token", "c" * 129)]:
        form = {"csrf_token": csrf.group(1), "tx": tx.group(1), "national_code": idp.national_code,
                "password": PASSWORD, field: value}
        refused = idp.browser.post("/login", data=form)
        assert refused.status_code == 400 and f"The {field} parameter is too long" in refused.text
    done = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert done.status_code == 303


def test_oversized_fields_of_the_other_sign_in_registration_and_recovery_forms_are_refused(idp: Idp) -> None:
    for path, field in [("/register", "mobile"), ("/register", "password"), ("/recover", "birthdate"),
                        ("/recover/verify", "code"), ("/login/step", "code"), ("/login/consent", "decision")]:
        r = idp.browser.post(path + "?lang=en", data={"csrf_token": "x", field: "1" * 1100})
        assert r.status_code == 400 and f"The {field} parameter is too long" in r.text, (path, field)


def test_an_oversized_account_form_field_changes_nothing(idp: Idp) -> None:
    r = idp.browser.get("/account")
    login = idp.browser.get(r.headers["location"])
    assert submit_login(idp.browser, login.text, idp.national_code, PASSWORD).status_code == 303
    page = idp.browser.get("/account/security")
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = idp.browser.post("/account/password?lang=en", data={
        "csrf_token": csrf.group(1), "current_password": PASSWORD, "new_password": "n" * 1025})
    assert r.status_code == 400 and "The new_password parameter is too long" in r.text
    # The password is the one it was.
    assert idp.services.passwords.verify(idp.services.people.password_hash(idp.person_id), PASSWORD)


def test_sign_out_confirmation_echoes_only_bounded_logout_parameters(idp: Idp) -> None:
    r = idp.browser.get("/end_session?" + urlencode({"client_id": "portal", "state": "s" * 3000}))
    assert r.status_code == 400 and "The state parameter is too long" in r.text
    r = idp.browser.get("/end_session?" + urlencode({"client_id": "portal", "state": "s", "other": "<o>" * 100}))
    assert r.status_code == 200
    assert 'name="state" value="s"' in r.text and 'name="other"' not in r.text


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
@given(path=st.sampled_from(["/token", "/introspect", "/revoke", "/authorize", "/end_session", "/login",
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
