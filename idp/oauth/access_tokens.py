"""Reading our own JWT access tokens back (userinfo, introspection, revocation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from idp.oauth.person_refs import PERSON_REF_CLAIM
from idp.oauth.tokens import TokenIssuer
from keys.errors import InvalidToken
from keys.keyring import KeyRing


@dataclass(frozen=True, slots=True)
class AccessToken:
    claims: dict[str, object]
    revoked: bool
    # Whom the token is about, as `TokenIssuer.person_of` read it (None: its `sub`).
    person: str | None = None

    @property
    def jti(self) -> str:
        return str(self.claims.get("jti", ""))

    @property
    def person_id(self) -> str:
        """Whom the token is about: the person's id for a user token (whatever `sub` the client
        sees: a pairwise token names its person in a sealed reference, `TokenIssuer.person_of`),
        the client's id for a machine token."""
        return self.person if self.person is not None else str(self.claims.get("sub", ""))

    @property
    def public_claims(self) -> dict[str, object]:
        """The claims without the sealed person reference (for introspection answers)."""
        return {k: v for k, v in self.claims.items() if k != PERSON_REF_CLAIM}

    @property
    def jkt(self) -> str | None:
        """The thumbprint of the DPoP key the token is bound to (RFC 9449 §6.1), or None."""
        cnf = self.claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        return jkt if isinstance(jkt, str) else None

    @property
    def client_id(self) -> str:
        return str(self.claims.get("client_id", ""))

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        return [aud] if isinstance(aud, str) else list(aud or [])  # type: ignore[call-overload]

    # Authlib TokenMixin-style accessors for its introspection and revocation endpoints.
    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return int(self.claims.get("exp", 0)) <= time.time()  # type: ignore[call-overload]

    def is_revoked(self) -> bool:
        return self.revoked


class AccessTokenReader:
    def __init__(
        self, keyring: KeyRing, issuer: TokenIssuer, mandate_holds: Callable[[object], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keyring = keyring
        self._issuer = issuer
        self._mandate_holds = mandate_holds
        self._clock = clock

    def read(self, token: str) -> AccessToken | None:
        """The token's claims if we signed it as an access token; None for anything else."""
        if not token or len(token) > 8192 or token.count(".") != 2:
            return None
        try:
            header, claims = self.keyring.verify(token)
        except InvalidToken:
            return None
        if header.get("typ") != "at+jwt" or claims.get("iss") != self._issuer.issuer:
            return None
        person = self._issuer.person_of(claims)
        if person is None:
            return None  # a reference we cannot open (another deployment's key): not ours to trust
        sid = claims.get("sid")
        # A token got by token exchange falls with any token it was exchanged from (RFC 8693).
        origins = claims.get("exchanged_from")
        also = [str(j) for j in origins] if isinstance(origins, list) else []
        revoked = self._issuer.is_access_token_revoked(
            str(claims.get("jti")), sid if isinstance(sid, str) else None, also=also)
        if not revoked and "legal_entity" in claims:
            # Acting for a legal entity holds only while the mandate does (revoked, expired, or the
            # entity suspended or dissolved: the token is inactive from that moment).
            revoked = not self._mandate_holds(claims["legal_entity"])
        return AccessToken(claims=claims, revoked=revoked, person=person)

    def read_active(self, token: str, audience: str) -> AccessToken | None:
        """For resource endpoints: only unexpired, unrevoked tokens meant for `audience`."""
        at = self.read(token)
        if at is None or at.revoked or at.is_expired() or audience not in at.audiences:
            return None
        return at
