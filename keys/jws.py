"""Compact JWS signing for our own tokens, on `cryptography` keys loaded once.

joserfc's general-purpose `jwt.encode` re-validates the header and key on every call, which is
most of the cost of issuing a token. Our headers are fixed ({alg, kid, typ}), so the encoded
header is computed once per `typ` and only the payload and signature are produced per token.
Tokens are verified with joserfc (tests check these outputs against it).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

_ES256_HALF = 32  # RFC 7518 §3.4: R and S as 32-byte big-endian integers, concatenated


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class CompactSigner:
    def __init__(self, kid: str, alg: str, private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        if alg == "ES256" and not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise TypeError("ES256 needs an EC private key")
        if alg == "RS256" and not isinstance(private_key, rsa.RSAPrivateKey):
            raise TypeError("RS256 needs an RSA private key")
        self.kid = kid
        self.alg = alg
        self._key = private_key
        self._headers: dict[str, bytes] = {}

    def _header(self, typ: str) -> bytes:
        encoded = self._headers.get(typ)
        if encoded is None:
            encoded = _b64(orjson.dumps({"alg": self.alg, "kid": self.kid, "typ": typ}))
            self._headers[typ] = encoded
        return encoded

    def sign(self, claims: Mapping[str, object], typ: str) -> str:
        signing_input = self._header(typ) + b"." + _b64(orjson.dumps(dict(claims)))
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(_ES256_HALF, "big") + s.to_bytes(_ES256_HALF, "big")
        else:
            signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64(signature)).decode("ascii")
