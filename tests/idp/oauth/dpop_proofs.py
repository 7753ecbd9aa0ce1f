"""DPoP proofs as a client makes them (RFC 9449 §4.2), with joserfc: for the DPoP tests."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey


def new_key() -> ECKey:
    return ECKey.generate_key("P-256")


def ath(access_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def proof(
    key: ECKey | RSAKey, htm: str, htu: str, /, *, access_token: str | None = None, alg: str = "ES256",
    header: dict[str, object] | None = None, **claims: object,
) -> str:
    """A proof for one request; `header` and `claims` add to or replace the usual ones (None removes one)."""
    head: dict[str, object] = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    head.update(header or {})
    head = {k: v for k, v in head.items() if v is not None}
    body: dict[str, object] = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = ath(access_token)
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(head, body, key, algorithms=[alg])


def unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    """A JWT with `alg: none` and no signature, which no library here will make."""
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(claims)}."
