"""OpenID Connect for Identity Assurance: verified_claims when the client asks for them."""

from __future__ import annotations

import json

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.idp.conftest import Idp
from tests.idp.flows import user_tokens

ASK = json.dumps({
    "id_token": {"verified_claims": {"verification": {"trust_framework": None},
                                     "claims": {"given_name": None, "family_name": None}}},
    "userinfo": {"verified_claims": {"verification": {"trust_framework": None}, "claims": {"birthdate": None}}},
})


def _tokens(idp: Idp) -> dict[str, str]:
    from tests.idp.conftest import ISSUER, sign_in

    oauth = idp.oauth(scope="openid profile")
    url, _ = oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier="v" * 50, nonce="n", claims=ASK)
    location = sign_in(idp.browser, url, idp.national_code).headers["location"]
    return dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier="v" * 50))


def test_registry_proofing_is_stated_in_id_token_and_userinfo(idp: Idp) -> None:
    result = idp.services.proofing.verify_with_registry(idp.person_id)
    assert result.ok
    tokens = _tokens(idp)
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    stated = jwt.decode(tokens["id_token"], keys).claims["verified_claims"]
    assert stated["verification"]["trust_framework"] == "ir_civil_registry"
    assert stated["verification"]["time"].endswith("Z")
    assert stated["verification"]["evidence"][0]["type"] == "electronic_record"
    assert set(stated["claims"]) == {"given_name", "family_name"}

    info = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert info["verified_claims"]["claims"] == {"birthdate": "1990-03-21"}
    assert info["acr"] == "urn:idp:loa:1" and info["amr"] == ["pwd"] and isinstance(info["auth_time"], int)


def test_in_person_proofing_is_stated_as_a_document_check(sqlite_idp: Idp) -> None:
    sqlite_idp.services.proofing.verify_in_person(sqlite_idp.national_code, operator="op-7",
                                                  document="idcard:0012345679")
    tokens = _tokens(sqlite_idp)
    keys = KeySet.import_key_set(sqlite_idp.browser.get("/jwks").json())
    verification = jwt.decode(tokens["id_token"], keys).claims["verified_claims"]["verification"]
    assert verification["evidence"][0]["type"] == "document"
    assert "0012345679" not in json.dumps(verification)  # the document number is masked


def test_self_asserted_identity_gets_no_verified_claims(sqlite_idp: Idp) -> None:
    tokens = _tokens(sqlite_idp)
    keys = KeySet.import_key_set(sqlite_idp.browser.get("/jwks").json())
    assert "verified_claims" not in jwt.decode(tokens["id_token"], keys).claims
    without = user_tokens(sqlite_idp, scope="openid")
    assert "verified_claims" not in jwt.decode(without["id_token"], keys).claims
