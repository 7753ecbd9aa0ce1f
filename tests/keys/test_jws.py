"""Our compact JWS signer (`keys.jws`), checked by an independent implementation: every token it
makes verifies with joserfc, with the header we promise and the claims as given."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, RSAKey

from keys.jws import CompactSigner

CLAIMS = {"iss": "https://idp.example", "sub": "person-1", "aud": ["portal", "https://api.example"],
          "exp": 2_000_000_000, "name": "سارا احمدی", "amr": ["pwd", "otp"], "verified": True}


def _keys(alg: str) -> tuple[ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, ECKey | RSAKey]:
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
        return private, ECKey.import_key(private.public_key())
    rsa_private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return rsa_private, RSAKey.import_key(rsa_private.public_key())


def _segment(token: str, n: int) -> bytes:
    part = token.split(".")[n]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_joserfc_verifies_what_we_sign_with_our_header_and_claims(alg: str) -> None:
    private, public = _keys(alg)
    signer = CompactSigner("key-1", alg, private)
    for typ in ("at+jwt", "JWT", "logout+jwt"):
        token = signer.sign(CLAIMS, typ)
        decoded = jwt.decode(token, public, algorithms=[alg])
        assert decoded.header == {"alg": alg, "kid": "key-1", "typ": typ}
        assert decoded.claims == CLAIMS


def test_an_es256_signature_is_r_and_s_of_32_bytes_each() -> None:
    """RFC 7518 §3.4: not the DER encoding `cryptography` produces."""
    private, _ = _keys("ES256")
    for _ in range(20):  # some R or S have leading zero bytes: still 32 bytes each
        assert len(_segment(CompactSigner("k", "ES256", private).sign(CLAIMS, "JWT"), 2)) == 64


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_changed_payload_or_another_key_does_not_verify(alg: str) -> None:
    private, public = _keys(alg)
    token = CompactSigner("key-1", alg, private).sign(CLAIMS, "JWT")
    header, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "person-2"}).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(f"{header}.{forged}.{signature}", public, algorithms=[alg])
    _, other = _keys(alg)
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(token, other, algorithms=[alg])


def test_an_algorithm_needs_its_own_kind_of_key() -> None:
    ec_key, _ = _keys("ES256")
    rsa_key, _ = _keys("RS256")
    with pytest.raises(TypeError, match="ES256 needs an EC private key"):
        CompactSigner("k", "ES256", rsa_key)
    with pytest.raises(TypeError, match="RS256 needs an RSA private key"):
        CompactSigner("k", "RS256", ec_key)
