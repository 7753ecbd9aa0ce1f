"""Client authentication methods beyond Authlib's built-ins."""

from __future__ import annotations

import time
from collections.abc import Callable

from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from clients.models import Client
from idp.errors import InvalidClientError
from idp.oauth.one_time_ids import UsedAssertions

# Every method a confidential or public client may register.
ALL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

_MAX_JTI = 256


class PrivateKeyJwt(JWTBearerClientAssertion):
    """OIDC Core §9 `private_key_jwt`: a JWT signed with a key from the client's registered JWKS.

    RFC 7523 §3 asks the server to limit how long an assertion is good for and to accept it once;
    both are enforced here: `iat` is required, `exp` may be at most `max_lifetime` seconds after
    `iat` and after now, and the `jti` is remembered (durably) until the assertion expires. The
    audience must name this server: the issuer or the token endpoint, the values OIDC Core §9 and
    RFC 7523bis allow, or the pushed authorization request endpoint (RFC 9126 §2), whichever
    endpoint (token, PAR, introspection, revocation) the assertion is presented to; a list is
    accepted only if every value is one of those.
    """

    CLIENT_AUTH_METHOD = "private_key_jwt"
    LEEWAY = 30  # seconds of clock skew allowed between the client and us

    def __init__(
        self, audiences: list[str], used: UsedAssertions, *, max_lifetime: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(validate_jti=True, leeway=self.LEEWAY)
        self._audiences = audiences
        self._used = used
        self._max_lifetime = max_lifetime
        self._clock = clock

    def __call__(self, query_client, request):  # type: ignore[no-untyped-def]
        try:
            return super().__call__(query_client, request)
        except InvalidClientError as err:
            # The client sent credentials and they failed: 401, whichever way they came (RFC 6749 §5.2).
            err.status_code = 401
            raise

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if client.token_endpoint_auth_method != self.CLIENT_AUTH_METHOD or not client.jwks:
            raise InvalidClientError(description="The client has no keys registered for private_key_jwt.")
        try:
            return KeySet.import_key_set(dict(client.jwks))
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidClientError(description="The client's registered keys cannot be used.") from None

    def verify_claims(self, claims) -> None:  # type: ignore[no-untyped-def]
        self._check_audience(claims.get("aud"))
        self._check_lifetime(claims)
        super().verify_claims(claims)  # signature-independent checks: iss = sub, exp, nbf, jti present

    def _check_audience(self, aud: object) -> None:
        values = aud if isinstance(aud, list) else [aud]
        if not values or not all(isinstance(v, str) and v in self._audiences for v in values):
            raise InvalidClientError(
                description=f"The assertion's aud must be one of {', '.join(self._audiences)}, and nothing else.")

    def _check_lifetime(self, claims: dict[str, object]) -> None:
        iat, exp = claims.get("iat"), claims.get("exp")
        if not _number(iat):
            raise InvalidClientError(description="The assertion must carry iat, the time it was made.")
        if not _number(exp):
            raise InvalidClientError(description="The assertion must carry exp, when it expires.")
        now = self._clock()
        if iat > now + self.LEEWAY:  # type: ignore[operator]
            raise InvalidClientError(description="The assertion's iat is in the future.")
        if exp - iat > self._max_lifetime or exp - now > self._max_lifetime + self.LEEWAY:  # type: ignore[operator]
            raise InvalidClientError(
                description=f"The assertion must expire at most {self._max_lifetime} seconds after it is made.")

    def validate_jti(self, claims: dict[str, object], jti: object) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > _MAX_JTI:
            raise InvalidClientError(description=f"The assertion's jti must be a string of 1 to {_MAX_JTI} characters.")
        # Remembered until the assertion expires (plus the skew allowed on exp): after that it is
        # refused for its exp, so the id may be forgotten.
        until = float(claims["exp"]) + self.LEEWAY  # type: ignore[arg-type]
        if not self._used.claim(str(claims["sub"]), jti, until):
            raise InvalidClientError(description="This assertion was already used; make a new one for each request.")
        return True


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
