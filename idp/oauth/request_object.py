"""Signed request objects (RFC 9101, JAR): https://www.rfc-editor.org/rfc/rfc9101

A request object is the whole authorization request as the claims of a JWT the client signed with
one of its registered keys. It is accepted by value (`request`) at the authorization endpoint and
inside a pushed request (`idp.oauth.pushed`); `request_uri` only ever names a pushed request, never
a URL we would fetch. Once verified, only the parameters inside it count (RFC 9101 §5, §6.3): the
ones beside it in the query or body are ignored, except `client_id`, which must match.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import orjson
from authlib.oauth2.rfc9101.errors import InvalidRequestObjectError
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError, UnsupportedAlgorithmError
from joserfc.jwk import KeySet
from joserfc.util import urlsafe_b64decode

from clients.models import Client
from idp.web.input_limits import AUTHORIZATION_PARAMETERS

__all__ = ["ALGORITHMS", "InvalidRequestObjectError", "RequestObjects"]

# What a request object may be signed with (discovery: request_object_signing_alg_values_supported).
# FAPI 2.0 allows PS256, ES256 and EdDSA; RS256 and `none` are refused (RFC 9101 §10.2 advises against
# unsigned objects, and an unsigned object is no better than the query it replaces).
ALGORITHMS = ["ES256", "PS256"]
LEEWAY = 30  # seconds of clock skew allowed between the client and us
# Parameters that cannot themselves be inside a request object (RFC 9101 §4), and one we never read.
_NOT_INSIDE = ("request", "request_uri", "registration")
_PARAMETERS = AUTHORIZATION_PARAMETERS - set(_NOT_INSIDE)
_MAX_JTI = 256


def _number(value: object) -> bool:
    """A time in seconds: JSON numbers only, and never NaN or infinity (Python's JSON reads both)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class RequestObjects:
    """Verifies request objects for this issuer and turns them into authorization parameters."""

    def __init__(self, issuer: str, *, max_lifetime: int, clock: Callable[[], float] = time.time) -> None:
        self._issuer = issuer
        self._max_lifetime = max_lifetime
        self._clock = clock

    def parameters(self, raw: str, client: Client) -> list[tuple[str, str]]:
        """The authorization parameters inside `raw`, signed by `client`; else `invalid_request_object`
        with a description saying what is wrong."""
        claims = self._verified(raw, client)
        self._check_claims(claims, client)
        return _as_parameters(claims)

    def _verified(self, raw: str, client: Client) -> dict[str, object]:
        if not client.jwks:
            raise InvalidRequestObjectError(
                "This client has no registered keys, so it cannot send request objects.")
        if raw.count(".") != 2:
            # Five parts is an encrypted object (JWE), which we do not accept; anything else is no JWT.
            raise InvalidRequestObjectError("The request object must be a signed JWT (JWS compact serialization).")
        try:
            keys = KeySet.import_key_set(dict(client.jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidRequestObjectError("The client's registered keys cannot be used.") from None
        try:
            token = jwt.decode(raw, keys, algorithms=ALGORITHMS)
        except JoseError as exc:
            raise InvalidRequestObjectError(_why(raw, exc)) from None
        except (ValueError, TypeError, KeyError):
            raise InvalidRequestObjectError("The request object is not a well-formed signed JWT.") from None
        claims = token.claims
        if not isinstance(claims, dict):
            raise InvalidRequestObjectError("The request object's payload must be a JSON object.")
        return claims

    def _check_claims(self, claims: Mapping[str, object], client: Client) -> None:
        # RFC 9101 §4 and §5: signed by the client (iss), for us (aud), naming the same client.
        if claims.get("iss") != client.client_id:
            raise InvalidRequestObjectError("The request object's iss must be the client_id.")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self._issuer not in audiences:
            raise InvalidRequestObjectError(f"The request object's aud must be {self._issuer}.")
        if claims.get("client_id") != client.client_id:
            raise InvalidRequestObjectError(
                "The request object's client_id must be present and equal the client_id parameter.")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI):
            raise InvalidRequestObjectError(f"The request object's jti must be a string of 1 to {_MAX_JTI} characters.")
        self._check_lifetime(claims)
        inside = [name for name in _NOT_INSIDE if name in claims]
        if inside:
            raise InvalidRequestObjectError(f"A request object must not contain {inside[0]} (RFC 9101 section 4).")

    def _check_lifetime(self, claims: Mapping[str, object]) -> None:
        """A short-lived object, so a leaked one cannot be used for long (FAPI 2.0 Message Signing
        §5.3.1 asks the same): exp required, nbf optional but never in the future."""
        now = self._clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not _number(exp):
            raise InvalidRequestObjectError("The request object must carry exp, when it expires.")
        if nbf is not None and not _number(nbf):
            raise InvalidRequestObjectError("The request object's nbf must be a number of seconds.")
        if exp <= now - LEEWAY:  # type: ignore[operator]
            raise InvalidRequestObjectError("The request object has expired.")
        if nbf is not None and nbf > now + LEEWAY:  # type: ignore[operator]
            raise InvalidRequestObjectError("The request object's nbf is in the future.")
        start = nbf if nbf is not None else now
        if exp - start > self._max_lifetime or exp - now > self._max_lifetime + LEEWAY:  # type: ignore[operator]
            raise InvalidRequestObjectError(
                f"The request object must expire at most {self._max_lifetime} seconds after nbf or now.")


def _why(raw: str, exc: JoseError) -> str:
    """A description of a refused JWT that helps the client's developer, naming nothing secret."""
    alg = _header_alg(raw)
    if isinstance(exc, UnsupportedAlgorithmError) or (alg is not None and alg not in ALGORITHMS):
        if alg == "none":
            return "Unsigned request objects (alg none) are not accepted; sign it with ES256 or PS256."
        return f"The request object must be signed with one of {', '.join(ALGORITHMS)}."
    if isinstance(exc, BadSignatureError):
        return "The request object's signature does not verify with the client's registered keys."
    return "The request object could not be verified with the client's registered keys."


def _header_alg(raw: str) -> str | None:
    try:
        header = orjson.loads(urlsafe_b64decode(raw.split(".", 1)[0].encode()))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        return None
    alg = header.get("alg") if isinstance(header, dict) else None
    return alg if isinstance(alg, str) else None


def _as_parameters(claims: Mapping[str, object]) -> list[tuple[str, str]]:
    """The object's authorization parameters as url-encoded ones would be: strings. OIDC Core §6.1
    gives `claims` as a JSON object and `max_age` as a number; other members are ignored as unknown
    query parameters are (RFC 6749 §3.1)."""
    pairs: list[tuple[str, str]] = []
    for name, value in claims.items():
        if name not in _PARAMETERS:
            continue
        if isinstance(value, str):
            pairs.append((name, value))
        elif name == "max_age" and isinstance(value, int) and not isinstance(value, bool):
            pairs.append((name, str(value)))
        elif name == "claims" and isinstance(value, dict):
            pairs.append((name, orjson.dumps(value).decode()))
        else:
            raise InvalidRequestObjectError(f"The request object's {name} must be a string.")
    return pairs
