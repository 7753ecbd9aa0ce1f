"""Signed request objects (RFC 9101), made with joserfc, by value at /authorize and inside pushed requests."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.idp.conftest import ISSUER, Idp, sign_in
from tests.idp.flows import stored_sizes
from tests.idp.protocol.test_bad_input import FUZZ_EXAMPLES

SIGNED = "signed"
CALLBACK = "https://signed.example/callback"
VERIFIER = "q" * 64
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


def register(idp: Idp) -> str:
    """A portal with registered public keys (and a secret for the token endpoint)."""
    secret = idp.add_client(SIGNED, redirect_uris=[CALLBACK], scopes=["openid", "profile", "phone"],
                            jwks={"keys": [EC.as_dict(private=False), RSA.as_dict(private=False)]})
    assert secret
    return secret


def request_object(key: ECKey | RSAKey = EC, alg: str = "ES256", **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": SIGNED, "aud": ISSUER, "client_id": SIGNED, "nbf": now, "exp": now + 120,
        "jti": secrets.token_urlsafe(12), "response_type": "code", "redirect_uri": CALLBACK,
        "scope": "openid profile", "state": "inner-state", "nonce": "n",
        "code_challenge": create_s256_code_challenge(VERIFIER), "code_challenge_method": "S256",
    }
    claims.update(overrides)
    return jwt.encode({"alg": alg, "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key,
                      algorithms=[alg])


def unsigned(**claims: object) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    now = int(time.time())
    return part({"alg": "none"}) + "." + part({"iss": SIGNED, "aud": ISSUER, "client_id": SIGNED, "exp": now + 60,
                                               "response_type": "code", "redirect_uri": CALLBACK, **claims}) + "."


def by_value(raw: str, client_id: str = SIGNED, **outer: str) -> str:
    return f"{ISSUER}/authorize?" + urlencode({"client_id": client_id, "request": raw, **outer})


def test_a_request_object_by_value_ends_with_tokens(idp: Idp) -> None:
    oauth = idp.oauth(SIGNED, client_secret=register(idp), redirect_uri=CALLBACK)
    # RFC 9101 §6.3: the parameters beside the object are ignored (client_id aside).
    url = by_value(request_object(), scope="openid phone", redirect_uri="https://evil.example/cb", state="outer",
                   prompt="none")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    assert location.startswith(CALLBACK + "?")
    assert parse_qs(urlsplit(location).query)["state"] == ["inner-state"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)
    assert token["scope"] == "openid profile" and token["id_token"]


def test_ps256_objects_and_json_members_are_accepted(sqlite_idp: Idp) -> None:
    register(sqlite_idp)
    raw = request_object(RSA, "PS256", max_age=600, claims={"id_token": {"acr": {"essential": True}}})
    r = sqlite_idp.browser.get(by_value(raw))
    assert r.status_code == 302 and r.headers["location"].startswith("/login?")


def test_a_request_object_inside_a_pushed_request(idp: Idp) -> None:
    oauth = idp.oauth(SIGNED, client_secret=register(idp), redirect_uri=CALLBACK)
    r = oauth.post(f"{ISSUER}/par", data={"request": request_object(), "scope": "openid phone", "state": "outer"},
                   auth=oauth.client_auth("client_secret_basic"))
    assert r.status_code == 201, r.text
    url = f"{ISSUER}/authorize?" + urlencode({"client_id": SIGNED, "request_uri": r.json()["request_uri"]})
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    assert parse_qs(urlsplit(location).query)["state"] == ["inner-state"]
    token = oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=VERIFIER)
    assert token["scope"] == "openid profile"


def _other_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


def _now() -> int:
    return int(time.time())


# (id, how to make the request object when the test runs, what the description says)
REFUSALS: list[tuple[str, Callable[[], str], str]] = [
    ("unsigned", lambda: unsigned(), "alg none"),
    ("wrong key", lambda: request_object(_other_key()), "signature does not verify"),
    ("RS256", lambda: request_object(RSA, "RS256"), "ES256, PS256"),
    ("expired", lambda: request_object(nbf=_now() - 400, exp=_now() - 100), "expired"),
    ("too long-lived", lambda: request_object(exp=_now() + 3600), "at most 300 seconds"),
    ("no exp", lambda: request_object(exp=None), "exp"),
    ("exp not a number", lambda: request_object(exp=float("nan")), "must carry exp"),
    ("exp infinite", lambda: request_object(exp=float("inf")), "must carry exp"),
    ("exp a string", lambda: request_object(exp=str(_now() + 60)), "must carry exp"),
    ("nbf ahead", lambda: request_object(nbf=_now() + 600, exp=_now() + 700), "nbf is in the future"),
    ("wrong aud", lambda: request_object(aud="https://other.example"), "aud must be"),
    ("wrong iss", lambda: request_object(iss="portal"), "iss must be the client_id"),
    ("other client_id inside", lambda: request_object(client_id="portal"), "client_id must be present"),
    ("request_uri inside", lambda: request_object(request_uri="urn:x"), "must not contain request_uri"),
    ("scope not a string", lambda: request_object(scope=["openid"]), "scope must be a string"),
    ("encrypted", lambda: "a.b.c.d.e", "must be a signed JWT"),
    ("junk", lambda: "not-a-jwt", "must be a signed JWT"),
    ("junk parts", lambda: "a.b.c", "could not be verified"),
    ("bad base64", lambda: "!!.@@.##", "could not be verified"),
]


@pytest.mark.parametrize(("name", "make", "says"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_bad_request_objects_are_invalid_request_object_on_a_page(
    sqlite_idp: Idp, name: str, make: Callable[[], str], says: str,
) -> None:
    register(sqlite_idp)
    before = stored_sizes(sqlite_idp)
    r = sqlite_idp.browser.get(by_value(make(), redirect_uri=CALLBACK, state="outer"))
    # Nothing in an object that does not verify says where the client wants its answer.
    assert r.status_code == 400 and "location" not in r.headers, (name, r.headers.get("location"))
    assert "invalid_request_object" in r.text and says in r.text, (name, r.text[-800:])
    assert stored_sizes(sqlite_idp) == before


@pytest.mark.parametrize(("name", "make", "says"), REFUSALS[:4], ids=[r[0] for r in REFUSALS[:4]])
def test_bad_request_objects_are_a_json_error_when_pushed(
    sqlite_idp: Idp, name: str, make: Callable[[], str], says: str,
) -> None:
    oauth = sqlite_idp.oauth(SIGNED, client_secret=register(sqlite_idp), redirect_uri=CALLBACK)
    r = oauth.post(f"{ISSUER}/par", data={"request": make()}, auth=oauth.client_auth("client_secret_basic"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request_object", r.text
    assert says in r.json()["error_description"]


def test_a_client_without_keys_cannot_send_request_objects(sqlite_idp: Idp) -> None:
    raw = request_object(iss="portal", client_id="portal")
    r = sqlite_idp.browser.get(by_value(raw, client_id="portal"))
    assert r.status_code == 400 and "location" not in r.headers
    assert "invalid_request_object" in r.text and "no registered keys" in r.text


def test_the_client_id_beside_the_object_must_be_the_signer(sqlite_idp: Idp) -> None:
    register(sqlite_idp)
    for url in (by_value(request_object(), client_id="portal"),
                f"{ISSUER}/authorize?" + urlencode({"request": request_object()}),
                by_value(request_object(), client_id="nobody")):
        r = sqlite_idp.browser.get(url)
        assert r.status_code == 400 and "location" not in r.headers, url


def test_a_verified_object_with_a_bad_parameter_is_answered_at_its_redirect_uri(sqlite_idp: Idp) -> None:
    register(sqlite_idp)
    r = sqlite_idp.browser.get(by_value(request_object(prompt="none login")))
    assert r.status_code == 302 and r.headers["location"].startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["inner-state"]


def test_huge_request_objects_are_refused_without_failing(sqlite_idp: Idp) -> None:
    register(sqlite_idp)
    for raw in ("x" * 20_000, request_object(state="s" * 9000), request_object(claims={"userinfo": {"a": "b" * 5000}})):
        r = sqlite_idp.browser.get(by_value(raw))
        assert 400 <= r.status_code < 500 or r.headers["location"].startswith(CALLBACK), r.status_code
        assert "Traceback" not in r.text


def test_a_client_required_to_push_cannot_send_its_object_by_value(sqlite_idp: Idp) -> None:
    """RFC 9126 §6: only a pushed request will do, signed or not."""
    register(sqlite_idp)
    sqlite_idp.services.clients.update(SIGNED, require_pushed_authorization_requests=True)
    r = sqlite_idp.browser.get(by_value(request_object()))
    assert r.status_code == 302 and r.headers["location"].startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(r.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and "must push" in query["error_description"][0]
    assert query["state"] == ["inner-state"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_NAMES = st.sampled_from(["iss", "aud", "client_id", "exp", "nbf", "jti", "response_type", "redirect_uri", "scope",
                          "state", "nonce", "prompt", "max_age", "claims", "code_challenge", "code_challenge_method",
                          "response_mode", "request", "request_uri", "acr_values", "other"])


_SECRETS: dict[str, str] = {}  # the signed client's secret, per provider (hypothesis reuses the fixture)


@settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.dictionaries(_NAMES, _JSON, max_size=5), pushed=st.booleans())
def test_no_signed_content_makes_the_server_fail(sqlite_idp: Idp, changes: dict[str, object], pushed: bool) -> None:
    """Whatever a client with keys signs, the answer is a page, a JSON error or a redirect to its own URI."""
    key = sqlite_idp.portal_secret  # random per provider
    secret = _SECRETS.get(key) or _SECRETS.setdefault(key, register(sqlite_idp))
    raw = request_object(**{"exp": _now() + 60, **changes})
    if pushed:
        r = sqlite_idp.browser.post("/par", data={"request": raw}, auth=(SIGNED, secret))
        assert r.status_code in (201, 400), r.text
        return
    r = sqlite_idp.browser.get(by_value(raw))
    assert r.status_code < 500 and "Traceback" not in r.text, (changes, r.text[-300:])
    location = r.headers.get("location", "")
    assert not location or location.startswith(("/login?", CALLBACK)), location
