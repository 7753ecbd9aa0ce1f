"""DPoP (RFC 9449) over HTTP: Authlib's OAuth client at the token endpoint with proofs made by
joserfc, then userinfo and introspection with the bound tokens; the refusals; server nonces; the
clients that must use it (`dpop_bound_access_tokens`, the fapi2 profile)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from tests.idp.conftest import ISSUER, Idp, sign_in
from tests.idp.flows import assertion_grant, authorization_params, error_at_client
from tests.idp.oauth.dpop_proofs import new_key, proof, unsigned
from tests.idp.protocol.test_fapi2 import BANK, BANK_CALLBACK, VERIFIER, pushed_code, register_bank
from tests.idp.protocol.test_token_exchange import ACCESS_TOKEN, GRANT, LAND, Agencies

TOKEN = f"{ISSUER}/token"
USERINFO = f"{ISSUER}/userinfo"
INTROSPECT = f"{ISSUER}/introspect"
API = "https://inquiry.registry.example"


def claims_of(idp: Idp, access_token: str) -> dict[str, object]:
    return jwt.decode(access_token, KeySet.import_key_set(idp.browser.get("/jwks").json())).claims


def code_tokens(
    idp: Idp, key: ECKey | None, *, client_id: str = "portal", secret: str | None = None,
    scope: str = "openid profile offline_access", dpop_jkt: str | None = None, **oauth: object,
) -> dict[str, object]:
    """Sign in through the front channel and redeem the code with Authlib, sending a proof by `key`."""
    client = idp.oauth(client_id, client_secret=secret, scope=scope, **oauth)
    if client_id != "portal":
        client.redirect_uri = f"https://{client_id}.example/callback"
    verifier = "k" * 64
    extra = {"dpop_jkt": dpop_jkt} if dpop_jkt else {}
    url, _ = client.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, nonce="n", **extra)
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    headers = {"DPoP": proof(key, "POST", TOKEN)} if key is not None else {}
    return dict(client.fetch_token(TOKEN, authorization_response=location, code_verifier=verifier, headers=headers))


def userinfo(idp: Idp, access_token: str, dpop: str | None, scheme: str = "DPoP") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {access_token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return idp.browser.get("/userinfo", headers=headers)


def machine(idp: Idp, **fields: object) -> str:
    secret = idp.add_client("backend", redirect_uris=[], grant_types=["client_credentials"], scopes=["inquiry.read"],
                            audiences=[API], **fields)
    assert secret
    return secret


def test_a_proof_binds_the_tokens_to_the_key_and_userinfo_needs_a_proof_by_it(idp: Idp) -> None:
    key = new_key()
    tokens = code_tokens(idp, key)
    at = str(tokens["access_token"])
    assert tokens["token_type"] == "DPoP"
    assert claims_of(idp, at)["cnf"] == {"jkt": key.thumbprint()}  # RFC 7638 thumbprint, by joserfc
    r = userinfo(idp, at, proof(key, "GET", USERINFO, access_token=at))
    assert r.status_code == 200 and r.json()["sub"] == idp.person_id
    # POST to userinfo needs a proof for POST.
    r = idp.browser.post("/userinfo", headers={"Authorization": f"DPoP {at}",
                                                "DPoP": proof(key, "POST", USERINFO, access_token=at)})
    assert r.status_code == 200


def test_a_bound_token_is_refused_as_bearer_without_a_proof_or_with_a_bad_one(idp: Idp) -> None:
    key = new_key()
    at = str(code_tokens(idp, key, scope="openid")["access_token"])

    def refused(r: httpx.Response, error: str) -> None:
        assert r.status_code == 401, r.text
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("DPoP") and f'error="{error}"' in challenge and 'algs="ES256 PS256"' in challenge
        assert r.json()["error"] == error

    refused(userinfo(idp, at, None, scheme="Bearer"), "invalid_token")
    refused(userinfo(idp, at, proof(key, "GET", USERINFO, access_token=at), scheme="Bearer"), "invalid_token")
    refused(userinfo(idp, at, None), "invalid_dpop_proof")
    once = proof(key, "GET", USERINFO, access_token=at)
    assert userinfo(idp, at, once).status_code == 200
    refused(userinfo(idp, at, once), "invalid_dpop_proof")  # replayed
    other = new_key()
    oct_key = OctKey.generate_key(256)
    now = int(time.time())
    claims = {"jti": "j1", "htm": "GET", "htu": USERINFO, "iat": now}
    bad = {
        "wrong htu": proof(key, "GET", f"{ISSUER}/token", access_token=at),
        "wrong htm": proof(key, "POST", USERINFO, access_token=at),
        "stale iat": proof(key, "GET", USERINFO, access_token=at, iat=now - 120),
        "wrong ath": proof(key, "GET", USERINFO, access_token=at + "x"),
        "no ath": proof(key, "GET", USERINFO),
        "another key": proof(other, "GET", USERINFO, access_token=at),
        "alg none": unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": key.as_dict(private=False)}, claims),
        "HS256": jwt.encode({"typ": "dpop+jwt", "alg": "HS256", "jwk": oct_key.as_dict()}, claims, oct_key),
    }
    for name, value in bad.items():
        r = userinfo(idp, at, value)
        assert r.status_code == 401, name
        refused(r, "invalid_dpop_proof")
    r = idp.browser.get("/userinfo", headers=[("Authorization", f"DPoP {at}"),
                                              ("DPoP", proof(key, "GET", USERINFO, access_token=at)),
                                              ("DPoP", proof(key, "GET", USERINFO, access_token=at))])
    refused(r, "invalid_dpop_proof")
    # An unbound token is not made DPoP by the scheme.
    bearer = str(code_tokens(idp, None, scope="openid")["access_token"])
    refused(userinfo(idp, bearer, proof(key, "GET", USERINFO, access_token=bearer)), "invalid_token")
    assert userinfo(idp, bearer, None, scheme="Bearer").status_code == 200


def test_client_credentials_with_a_proof_and_a_replayed_proof(idp: Idp) -> None:
    secret = machine(idp)
    key = new_key()
    oauth = idp.oauth("backend", client_secret=secret, scope="inquiry.read")
    once = proof(key, "POST", TOKEN)
    token = oauth.fetch_token(TOKEN, grant_type="client_credentials", headers={"DPoP": once})
    assert token["token_type"] == "DPoP" and claims_of(idp, token["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    with pytest.raises(OAuthError) as replay:
        oauth.fetch_token(TOKEN, grant_type="client_credentials", headers={"DPoP": once})
    assert replay.value.error == "invalid_dpop_proof"
    for bad in (proof(key, "POST", f"{ISSUER}/introspect"), proof(key, "GET", TOKEN),
                proof(key, "POST", TOKEN, iat=int(time.time()) - 3600)):
        r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                             headers={"DPoP": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    # Without a proof a client that is not required to use DPoP still gets a bearer token.
    assert oauth.fetch_token(TOKEN, grant_type="client_credentials")["token_type"] == "Bearer"


def test_a_client_registered_for_dpop_gets_no_token_without_a_proof(idp: Idp) -> None:
    secret = machine(idp, dpop_bound_access_tokens=True)
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                         headers={"DPoP": proof(new_key(), "POST", TOKEN)})
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    # With the code flow, the refusal leaves the code usable for a request with a proof.
    app_secret = idp.add_client("dpop-portal", grant_types=["authorization_code"], dpop_bound_access_tokens=True)
    client = idp.oauth("dpop-portal", client_secret=app_secret, redirect_uri="https://dpop-portal.example/callback",
                       scope="openid")
    url, _ = client.create_authorization_url(f"{ISSUER}/authorize", code_verifier="v" * 64, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    with pytest.raises(OAuthError) as refused:
        client.fetch_token(TOKEN, authorization_response=location, code_verifier="v" * 64)
    assert refused.value.error == "invalid_dpop_proof"
    token = client.fetch_token(TOKEN, authorization_response=location, code_verifier="v" * 64,
                               headers={"DPoP": proof(new_key(), "POST", TOKEN)})
    assert token["token_type"] == "DPoP"


def test_a_fapi2_client_gets_only_dpop_bound_tokens(idp: Idp) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "fapi-1", "alg": "ES256", "use": "sig"})
    idp.services.clients.create(
        client_id="fapi", name="fapi", redirect_uris=[], grant_types=["client_credentials"], scopes=["inquiry.read"],
        audiences=[API], token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]},
        profile="fapi2", require_pushed_authorization_requests=True, dpop_bound_access_tokens=True)
    r = idp.browser.post("/token", data=assertion_grant(key, TOKEN, "fapi"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    dpop_key = new_key()
    r = idp.browser.post("/token", data=assertion_grant(key, TOKEN, "fapi"),
                         headers={"DPoP": proof(dpop_key, "POST", TOKEN)})
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    assert claims_of(idp, r.json()["access_token"])["cnf"] == {"jkt": dpop_key.thumbprint()}


def test_a_public_clients_refresh_token_is_bound_to_the_key(idp: Idp) -> None:
    idp.add_client("app", token_endpoint_auth_method="none", grant_types=["authorization_code", "refresh_token"],
                   scopes=["openid", "profile", "offline_access"])
    key, other = new_key(), new_key()
    tokens = code_tokens(idp, key, client_id="app", token_endpoint_auth_method="none")
    oauth = idp.oauth("app", token_endpoint_auth_method="none")

    def refresh(refresh_token: object, by: ECKey) -> dict[str, str]:
        return dict(oauth.refresh_token(TOKEN, refresh_token=refresh_token, headers={"DPoP": proof(by, "POST", TOKEN)}))

    for headers in ({"DPoP": proof(other, "POST", TOKEN)}, {}):
        with pytest.raises(OAuthError) as refused:
            oauth.refresh_token(TOKEN, refresh_token=tokens["refresh_token"], headers=headers)
        assert refused.value.error == "invalid_dpop_proof"
    # The refusals did not use the token up: with the key it was issued to, it is refreshed.
    second = refresh(tokens["refresh_token"], key)
    assert second["token_type"] == "DPoP" and claims_of(idp, second["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    # Its successor stays bound to the same key.
    with pytest.raises(OAuthError):
        refresh(second["refresh_token"], other)
    third = refresh(second["refresh_token"], key)
    assert third["token_type"] == "DPoP"


def test_a_confidential_clients_refresh_token_is_not_bound_but_each_access_token_is(sqlite_idp: Idp) -> None:
    key, new = new_key(), new_key()
    tokens = code_tokens(sqlite_idp, key)
    oauth = sqlite_idp.oauth()
    # RFC 9449 §5: held to client authentication; the new access token is bound to this request's key.
    second = oauth.refresh_token(TOKEN, refresh_token=tokens["refresh_token"],
                                 headers={"DPoP": proof(new, "POST", TOKEN)})
    assert claims_of(sqlite_idp, second["access_token"])["cnf"] == {"jkt": new.thumbprint()}
    third = oauth.refresh_token(TOKEN, refresh_token=second["refresh_token"])
    assert third["token_type"] == "Bearer" and "cnf" not in claims_of(sqlite_idp, third["access_token"])


def test_dpop_jkt_at_the_authorization_endpoint_binds_the_code(idp: Idp) -> None:
    key, other = new_key(), new_key()
    with pytest.raises(OAuthError) as refused:
        code_tokens(idp, other, dpop_jkt=key.thumbprint())
    assert refused.value.error == "invalid_dpop_proof"
    with pytest.raises(OAuthError) as refused:
        code_tokens(idp, None, dpop_jkt=key.thumbprint())
    assert refused.value.error == "invalid_dpop_proof"
    tokens = code_tokens(idp, key, dpop_jkt=key.thumbprint())
    assert claims_of(idp, str(tokens["access_token"]))["cnf"] == {"jkt": key.thumbprint()}


@pytest.mark.parametrize("jkt", ["short", "x" * 44, "+" * 43])
def test_a_malformed_dpop_jkt_is_an_invalid_request(sqlite_idp: Idp, jkt: str) -> None:
    r = sqlite_idp.browser.get("/authorize", params=authorization_params(dpop_jkt=jkt))
    error = error_at_client(r)
    assert error["error"] == "invalid_request" and "dpop_jkt" in error["error_description"]


def test_introspection_reports_the_binding_and_checks_a_forwarded_proof(idp: Idp) -> None:
    key = new_key()
    at = str(code_tokens(idp, key, scope="openid")["access_token"])
    auth = ("portal", idp.portal_secret)
    body = idp.browser.post("/introspect", auth=auth, data={"token": at}).json()
    assert body["active"] is True and body["token_type"] == "DPoP" and body["cnf"] == {"jkt": key.thumbprint()}
    # A resource server that forwards the proof it was sent has it checked against the binding.
    forwarded = proof(key, "GET", "https://api.example/records", access_token=at)
    r = idp.browser.post("/introspect", auth=auth, data={"token": at}, headers={"DPoP": forwarded})
    assert r.status_code == 200 and r.json()["active"] is True
    for bad in (proof(new_key(), "GET", "https://api.example/records", access_token=at),
                proof(key, "GET", "https://api.example/records", access_token="another"), "junk"):
        r = idp.browser.post("/introspect", auth=auth, data={"token": at}, headers={"DPoP": bad})
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    bearer = str(code_tokens(idp, None, scope="openid")["access_token"])
    assert idp.browser.post("/introspect", auth=auth, data={"token": bearer}).json()["token_type"] == "Bearer"


@pytest.fixture
def nonce_idp(make_idp: Callable[..., Idp]) -> Idp:
    """A provider that requires DPoP nonces (`IDP_DPOP_REQUIRE_NONCE`)."""
    return make_idp(dpop_require_nonce=True)


def test_a_proof_is_checked_for_a_client_the_process_has_cached(make_idp: Callable[..., Idp]) -> None:
    # A cached client with its secret may be answered on the event loop (idp.oauth.token); a request
    # with a proof may not: its proof is checked, and its jti claimed in the store.
    idp = make_idp(client_cache_ttl=60)
    secret = machine(idp)
    required = idp.add_client("required", redirect_uris=[], grant_types=["client_credentials"],
                              scopes=["inquiry.read"], audiences=[API], dpop_bound_access_tokens=True)
    for client_id, client_secret in (("backend", secret), ("required", required)):
        assert idp.browser.post("/token", auth=(client_id, client_secret),
                                data={"grant_type": "client_credentials"}).status_code in (200, 400)
        assert idp.services.clients.cached(client_id)
    once = proof(new_key(), "POST", TOKEN)
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                         headers={"DPoP": once})
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    r = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                         headers={"DPoP": once})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"
    r = idp.browser.post("/token", auth=("required", str(required)), data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"


def test_a_nonce_is_asked_for_and_then_accepted(nonce_idp: Idp) -> None:
    idp = nonce_idp
    secret = machine(idp)
    key = new_key()

    def token(dpop: str) -> httpx.Response:
        return idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                                headers={"DPoP": dpop})

    r = token(proof(key, "POST", TOKEN))
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce"
    nonce = r.headers["dpop-nonce"]
    r = token(proof(key, "POST", TOKEN, nonce=nonce))
    assert r.status_code == 200 and r.json()["token_type"] == "DPoP"
    assert r.headers["dpop-nonce"]  # the next one, without another round trip (§8.2)
    r = token(proof(key, "POST", TOKEN, nonce="made-up"))
    assert r.status_code == 400 and r.json()["error"] == "use_dpop_nonce"


def test_userinfo_asks_for_a_nonce(nonce_idp: Idp) -> None:
    idp = nonce_idp
    secret = machine(idp)
    key = new_key()
    nonce = idp.browser.post("/token", auth=("backend", secret), data={"grant_type": "client_credentials"},
                             headers={"DPoP": proof(key, "POST", TOKEN)}).headers["dpop-nonce"]
    at = str(code_tokens_with_nonce(idp, key, nonce)["access_token"])
    r = userinfo(idp, at, proof(key, "GET", USERINFO, access_token=at))
    assert r.status_code == 401 and 'error="use_dpop_nonce"' in r.headers["www-authenticate"]
    r = userinfo(idp, at, proof(key, "GET", USERINFO, access_token=at, nonce=r.headers["dpop-nonce"]))
    assert r.status_code == 200 and r.json()["sub"] == idp.person_id


def code_tokens_with_nonce(idp: Idp, key: ECKey, nonce: str) -> dict[str, object]:
    client = idp.oauth(scope="openid")
    url, _ = client.create_authorization_url(f"{ISSUER}/authorize", code_verifier="k" * 64, nonce="n")
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    return dict(client.fetch_token(TOKEN, authorization_response=location, code_verifier="k" * 64,
                                   headers={"DPoP": proof(key, "POST", TOKEN, nonce=nonce)}))


JUNK = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200),
    st.builds(lambda a, b, c: f"{a}.{b}.{c}", *(st.text(alphabet="AZaz09-_=.", max_size=60),) * 3),
    st.sampled_from(["e30.e30.", "bnVsbA.bnVsbA.", "W10.W10.x", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.AA"]),
)


def test_junk_dpop_headers_are_refused_never_a_500(sqlite_idp: Idp) -> None:
    idp = sqlite_idp
    at = str(code_tokens(idp, new_key(), scope="openid")["access_token"])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(value=JUNK)
    def refused(value: str) -> None:
        r = idp.browser.post("/token", auth=("portal", idp.portal_secret),
                             data={"grant_type": "refresh_token", "refresh_token": "x"}, headers={"DPoP": value})
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
        r = userinfo(idp, at, value)
        assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof", r.text

    refused()


def test_token_exchange_keeps_the_binding_of_a_bound_subject_token(idp: Idp) -> None:
    agencies = Agencies(idp)
    key = new_key()
    subject = str(code_tokens(idp, key, scope="openid")["access_token"])
    form = {"grant_type": GRANT, "subject_token": subject, "subject_token_type": ACCESS_TOKEN, "audience": LAND,
            "scope": "land.ownership"}
    for headers in ({}, {"DPoP": proof(new_key(), "POST", TOKEN)}):
        r = idp.browser.post("/token", auth=("portal", idp.portal_secret), data=form, headers=headers)
        assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    token = agencies.oauth("portal").fetch_token(
        TOKEN, headers={"DPoP": proof(key, "POST", TOKEN)}, **form)
    assert token["token_type"] == "DPoP" and agencies.claims(token["access_token"])["cnf"] == {"jkt": key.thumbprint()}
    # A bearer subject token exchanged with a proof gives a bound token.
    bearer = str(code_tokens(idp, None, scope="openid")["access_token"])
    other = new_key()
    token = agencies.oauth("portal").fetch_token(
        TOKEN, headers={"DPoP": proof(other, "POST", TOKEN)}, **{**form, "subject_token": bearer})
    assert agencies.claims(token["access_token"])["cnf"] == {"jkt": other.thumbprint()}


def push_with_proof(bank: OAuth2Client, key: ECKey, **extra: str) -> httpx.Response:
    """The bank's pushed request for payment.send, sent with a DPoP proof by `key`."""
    return bank.post(f"{ISSUER}/par", auth=bank.client_auth(bank.token_endpoint_auth_method), data={
        "response_type": "code", "redirect_uri": BANK_CALLBACK, "scope": "openid payment.send", "state": "b",
        "code_challenge": create_s256_code_challenge(VERIFIER), "code_challenge_method": "S256", **extra,
    }, headers={"DPoP": proof(key, "POST", f"{ISSUER}/par")})


def test_a_fapi2_client_binds_its_code_with_a_proof_at_par_and_uses_its_tokens_with_proofs(idp: Idp) -> None:
    bank = register_bank(idp)
    key = new_key()
    # RFC 9449 §10.1: a proof sent with the pushed request binds the code to its key.
    r = push_with_proof(bank, key)
    assert r.status_code == 201, r.text
    url = f"{ISSUER}/authorize?" + urlencode({"client_id": BANK, "request_uri": r.json()["request_uri"]})
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    with pytest.raises(OAuthError) as refused:
        bank.fetch_token(TOKEN, authorization_response=location, code_verifier=VERIFIER,
                         headers={"DPoP": proof(new_key(), "POST", TOKEN)})
    assert refused.value.error == "invalid_dpop_proof"
    # The code was used up: one presented with another key may have been stolen.
    with pytest.raises(OAuthError) as used:
        bank.fetch_token(TOKEN, authorization_response=location, code_verifier=VERIFIER,
                         headers={"DPoP": proof(key, "POST", TOKEN)})
    assert used.value.error == "invalid_grant"
    r = push_with_proof(bank, key, dpop_jkt=new_key().thumbprint())
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof"  # two different keys named
    location = pushed_code(idp, bank)  # unbound code: the token request's proof decides the key
    token = bank.fetch_token(TOKEN, authorization_response=location, code_verifier=VERIFIER,
                             headers={"DPoP": proof(key, "POST", TOKEN)})
    at = str(token["access_token"])
    assert token["token_type"] == "DPoP" and claims_of(idp, at)["cnf"] == {"jkt": key.thumbprint()}
    assert userinfo(idp, at, proof(key, "GET", USERINFO, access_token=at)).status_code == 200
    assert userinfo(idp, at, None, scheme="Bearer").status_code == 401


def test_a_code_pushed_with_a_proof_is_redeemed_with_the_same_key(idp: Idp) -> None:
    bank = register_bank(idp)
    key = new_key()
    r = push_with_proof(bank, key)
    url = f"{ISSUER}/authorize?" + urlencode({"client_id": BANK, "request_uri": r.json()["request_uri"]})
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    token = bank.fetch_token(TOKEN, authorization_response=location, code_verifier=VERIFIER,
                             headers={"DPoP": proof(key, "POST", TOKEN)})
    assert claims_of(idp, str(token["access_token"]))["cnf"] == {"jkt": key.thumbprint()}
