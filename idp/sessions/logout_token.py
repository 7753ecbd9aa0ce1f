"""OIDC Back-Channel Logout 1.0 §2.4: the logout token, a `logout+jwt` signed like our ID tokens.

Spec: https://openid.net/specs/openid-connect-backchannel-1_0.html

Minting only: which clients get one and when is the outbox's and the deliverer's business
(`idp.sessions.outbox`, `idp.sessions.delivery`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clients.models import Client
    from clients.subjects import Subjects
    from keys.keyring import KeyRing

# §2.4: the one member of the `events` claim that makes a JWT a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# §2.4 / §4.1: explicit typing keeps a logout token from being mistaken for any other JWT we issue.
LOGOUT_TOKEN_TYP = "logout+jwt"
# Logout tokens are sent at once and re-signed on every attempt, so a short life is enough; it
# bounds how long a token captured in transit could be replayed.
LOGOUT_TOKEN_TTL = 120


class LogoutTokens:
    """Signs logout tokens (§2.4) with the keys that sign our ID tokens, so RPs verify both alike."""

    def __init__(
        self, keyring: KeyRing, issuer: str, clock: Callable[[], float] = time.time, *, default_alg: str = "ES256",
        subjects: Subjects | None = None,
    ) -> None:
        """`subjects` gives pairwise clients their own `sub`; without it every `sub` is the person's id."""
        self._keyring = keyring
        self.issuer = issuer
        self._clock = clock
        self._default_alg = default_alg
        self._subjects = subjects

    def subject(self, client: Client, person_id: str) -> str:
        """The `sub` `client` sees for the person: a logout token names them as its ID tokens did (§2.4)."""
        return self._subjects.for_client(client, person_id) if self._subjects is not None else person_id

    def make(self, client: Client, *, sub: str, sid: str, jti: str) -> str:
        """A compact JWS for `client`: iss, aud, iat, exp, jti, sub, sid and the logout event.

        Signed with the client's `id_token_signed_response_alg` (the RP validates it like an ID
        token, §2.6), header typ `logout+jwt`. It never carries a nonce (§2.4: a logout token with
        one MUST be rejected, which keeps it from being replayed as an ID token).
        """
        now = int(self._clock())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": jti,
            "sub": sub,
            "sid": sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        alg = client.id_token_signed_response_alg or self._default_alg
        return self._keyring.sign(claims, alg=alg, typ=LOGOUT_TOKEN_TYP)
