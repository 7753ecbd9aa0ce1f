"""Who may call the admin API: only an operator client's own token from our token endpoint, for the
admin audience, with the scope of the operation (RFC 6750 answers otherwise)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from tests.idp.admin.operator import ADMIN, operator, operator_token, register_operator
from tests.idp.conftest import ISSUER, Idp
from tests.idp.flows import assertion_grant, register_signer, user_tokens
from tests.idp.oauth.dpop_proofs import new_key, proof


def _get(idp: Idp, path: str = "/clients", token: str | None = None, scheme: str = "Bearer",
         **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"{scheme} {token}"
    return idp.browser.get(f"{ADMIN}{path}", headers=headers)


def _invalid_token(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_token" and r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.headers["www-authenticate"].startswith("Bearer ")


def test_an_operator_token_from_our_token_endpoint_lists_the_clients(idp: Idp) -> None:
    with operator(idp) as api:
        r = api.get("/clients")
    assert r.status_code == 200, r.text
    assert {"ops", "portal"} <= {c["client_id"] for c in r.json()}
    portal = next(c for c in r.json() if c["client_id"] == "portal")
    assert portal["has_secret"] is True and "secret_hash" not in portal


def test_no_token_is_a_401_challenge_without_error_code(idp: Idp) -> None:
    r = _get(idp)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="idp-admin"'
    assert r.json()["error"] == "invalid_token"
    r = _get(idp, token="", scheme="Basic")
    assert r.status_code == 401


def test_forged_expired_and_foreign_tokens_are_refused(idp: Idp) -> None:
    key = register_operator(idp)
    token = operator_token(idp, key)
    header, _, _ = token.partition(".")
    # A token signed with a key of the caller's own, with every claim an operator token has.
    forger = ECKey.generate_key("P-256", parameters={"kid": idp.services.keyring.keys()[0].kid})
    now = int(time.time())
    good = {"iss": ISSUER, "sub": "ops", "client_id": "ops", "aud": ADMIN, "iat": now, "exp": now + 300,
            "jti": "x", "scope": "idp.admin.clients"}
    _invalid_token(_get(idp, token=jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": forger.kid}, good, forger)))
    # Our own keys, but expired, from another issuer, or for another audience.
    sign = idp.services.keyring.sign
    _invalid_token(_get(idp, token=sign({**good, "exp": now - 5}, typ="at+jwt")))
    _invalid_token(_get(idp, token=sign({**good, "iss": "https://other.example"}, typ="at+jwt")))
    _invalid_token(_get(idp, token=sign({**good, "aud": "https://api.example"}, typ="at+jwt")))
    # Not an access token (an ID token's typ), and plain garbage.
    _invalid_token(_get(idp, token=sign(good, typ="JWT")))
    _invalid_token(_get(idp, token="not.a.token"))
    _invalid_token(_get(idp, token=header + ".e30." + "A" * 10))
    # The same claims, signed by us as an access token: accepted (so the refusals above were the claims').
    assert _get(idp, token=sign(good, typ="at+jwt")).status_code == 200


def test_a_token_for_another_api_is_refused(idp: Idp) -> None:
    key = register_signer(idp.services.clients)
    r = idp.browser.post("/token", data=assertion_grant(key, f"{ISSUER}/token"))
    assert r.status_code == 200, r.text
    _invalid_token(_get(idp, token=r.json()["access_token"]))


def test_the_token_of_a_disabled_or_deleted_client_stops_working_at_once(idp: Idp) -> None:
    key = register_operator(idp)
    token = operator_token(idp, key)
    assert _get(idp, token=token).status_code == 200
    idp.services.clients.set_enabled("ops", False)
    _invalid_token(_get(idp, token=token))
    idp.services.clients.set_enabled("ops", True)
    assert _get(idp, token=token).status_code == 200
    idp.services.clients.delete("ops")
    _invalid_token(_get(idp, token=token))


def test_a_revoked_token_is_refused(idp: Idp) -> None:
    key = register_operator(idp)
    token = operator_token(idp, key)
    form = {k: v for k, v in assertion_grant(key, f"{ISSUER}/token", "ops").items() if k != "grant_type"}
    r = idp.browser.post("/revoke", data={**form, "token": token})
    assert r.status_code == 200, r.text
    _invalid_token(_get(idp, token=token))


def test_a_citizens_access_token_is_refused(idp: Idp) -> None:
    tokens = user_tokens(idp, scope="openid profile")
    _invalid_token(_get(idp, token=tokens["access_token"]))
    # Even from a client registered for the admin audience: a person's token is never an operator's.
    sign = idp.services.keyring.sign
    now = int(time.time())
    person_token = sign({"iss": ISSUER, "sub": idp.person_id, "client_id": "portal", "aud": ADMIN, "iat": now,
                         "exp": now + 60, "jti": "p", "scope": "idp.admin.clients", "acr": "1", "auth_time": now},
                        typ="at+jwt")
    _invalid_token(_get(idp, token=person_token))


def test_missing_scope_is_403_insufficient_scope_naming_the_scope(idp: Idp) -> None:
    with operator(idp, scopes=["idp.admin.people"]) as api:
        r = api.get("/clients")
        assert r.status_code == 403
        assert r.json() == {"error": "insufficient_scope",
                            "detail": "This operation needs the scope idp.admin.clients."}
        assert 'error="insufficient_scope", scope="idp.admin.clients"' in r.headers["www-authenticate"]
        assert api.get("/people").status_code == 200


def test_the_read_scope_reads_every_group_and_changes_nothing(idp: Idp) -> None:
    with operator(idp, scopes=["idp.admin.read"]) as api:
        assert api.get("/clients").status_code == 200
        assert api.get("/keys").status_code == 200
        assert api.get("/people").status_code == 200
        r = api.post("/clients/portal/disable")
        assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
    assert idp.services.clients.get("portal").enabled  # type: ignore[union-attr]


def test_a_dpop_bound_token_needs_its_proof(idp: Idp) -> None:
    key = register_operator(idp)
    dpop_key = new_key()
    token = operator_token(idp, key, headers={"DPoP": proof(dpop_key, "POST", f"{ISSUER}/token")})
    url = f"{ADMIN}/keys"
    # As a bearer token, or without a proof: refused.
    r = _get(idp, "/keys", token=token)
    assert r.status_code == 401 and "DPoP-bound" in r.json()["detail"]
    r = _get(idp, "/keys", token=token, scheme="DPoP")
    assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
    # A proof by another key: refused; by its key, for this request: accepted.
    r = _get(idp, "/keys", token=token, scheme="DPoP", DPoP=proof(new_key(), "GET", url, access_token=token))
    assert r.status_code == 401
    r = _get(idp, "/keys", token=token, scheme="DPoP", DPoP=proof(dpop_key, "GET", url, access_token=token))
    assert r.status_code == 200, r.text


def test_an_operator_client_disabled_elsewhere_is_refused_at_once_despite_the_client_cache(
        make_idp: Callable[..., Idp]) -> None:
    idp = make_idp(client_cache_ttl=600)
    key = register_operator(idp)
    token = operator_token(idp, key)  # the token endpoint has the client in its cache now
    assert _get(idp, token=token).status_code == 200
    # Disabled from the command line (another process, its own registry).
    ClientRegistry(SqlClientStore(idp.services.engine), cache_ttl=0).set_enabled("ops", False)
    _invalid_token(_get(idp, token=token))
