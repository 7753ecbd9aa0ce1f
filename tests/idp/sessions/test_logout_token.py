"""The Back-Channel Logout 1.0 logout token (§2.4): claims, header and signature."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from clients.models import Client
from idp.sessions.logout_token import BACKCHANNEL_LOGOUT_EVENT, LOGOUT_TOKEN_TTL, LOGOUT_TOKEN_TYP, LogoutTokens
from keys.encryption import KeyEncryptor
from keys.keyring import KeyRing
from keys.store import MemoryKeyStore
from tests.backchannel import ISSUER, PERSON, SID, Backchannel, sqlite_only
from tests.relying_party import RelyingParty

NOW = 1_700_000_000


@pytest.fixture
def memory_keyring() -> KeyRing:
    ring = KeyRing(MemoryKeyStore(), KeyEncryptor(bytes(32)))
    ring.ensure(["ES256", "RS256"])
    return ring


def portal(alg: str = "ES256") -> Client:
    return Client(client_id="tax", name="Tax", token_endpoint_auth_method="client_secret_basic",
                  redirect_uris=("https://tax.example/cb",), post_logout_redirect_uris=(),
                  grant_types=("authorization_code",), scopes=("openid",), id_token_signed_response_alg=alg,
                  backchannel_logout_uri="https://tax.example/logout")


def test_claims_are_exactly_those_of_section_2_4_and_never_a_nonce(memory_keyring: KeyRing) -> None:
    tokens = LogoutTokens(memory_keyring, ISSUER, clock=lambda: NOW + 0.9)
    token = jwt.decode(tokens.make(portal(), sub=PERSON, sid=SID, jti="jti-1"),
                       KeySet.import_key_set(memory_keyring.jwks()), algorithms=["ES256"])
    assert token.claims == {
        "iss": ISSUER, "aud": "tax", "iat": NOW, "exp": NOW + LOGOUT_TOKEN_TTL, "jti": "jti-1",
        "sub": PERSON, "sid": SID, "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    assert "nonce" not in token.claims
    assert token.header["typ"] == LOGOUT_TOKEN_TYP == "logout+jwt" and token.header["alg"] == "ES256"
    assert token.header["kid"]


def test_the_clients_id_token_alg_is_used_else_the_default(memory_keyring: KeyRing) -> None:
    keys = KeySet.import_key_set(memory_keyring.jwks())
    tokens = LogoutTokens(memory_keyring, ISSUER, default_alg="RS256")
    assert jwt.decode(tokens.make(portal("ES256"), sub=PERSON, sid=SID, jti="a"), keys).header["alg"] == "ES256"
    assert jwt.decode(tokens.make(portal(""), sub=PERSON, sid=SID, jti="b"), keys).header["alg"] == "RS256"


@sqlite_only
def test_token_is_signed_with_the_clients_id_token_alg(bc: Backchannel, rp: RelyingParty, keyring: KeyRing) -> None:
    keyring.ensure(["RS256"])
    bc.register("rsa-portal", rp.url(), id_token_signed_response_alg="RS256")
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["rsa-portal"])
    assert bc.deliverer().deliver_due().delivered == 1
    token = jwt.decode(rp.requests[0].token, KeySet.import_key_set(keyring.jwks()), algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["typ"] == "logout+jwt"


def test_a_pairwise_client_is_told_its_own_sub(memory_keyring: KeyRing) -> None:
    from dataclasses import replace

    from clients.subjects import Subjects

    subjects = Subjects(b"salt")
    tokens = LogoutTokens(memory_keyring, ISSUER, subjects=subjects)
    pairwise = replace(portal(), subject_type="pairwise")
    assert tokens.subject(pairwise, PERSON) == subjects.for_client(pairwise, PERSON) != PERSON
    assert tokens.subject(portal(), PERSON) == PERSON
