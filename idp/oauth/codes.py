"""Authorization codes in the ephemeral store: issued, taken once, and remembered once redeemed.

A code is kept under the SHA-256 of its value ("code:<hash>"), so a dump of the store yields no
usable code. Redeeming it takes it atomically; what it was redeemed for is then remembered
("code-used:<hash>") for as long as a refresh token lives, so that a second use of the code can
revoke what the first one obtained (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import orjson

from idp.oauth.tokens import AuthContext
from idp.storage.keys import CODE, CODE_USED
from idp.storage.store import Store


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    person_id: str
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    sid: str | None
    nonce: str | None
    family_id: str
    id_token_verified: tuple[str, ...] | None = None
    userinfo_verified: tuple[str, ...] | None = None
    legal_entity: dict[str, object] | None = None
    # RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`), or None.
    dpop_jkt: str | None = None
    id_token_claims: dict[str, dict[str, object] | None] | None = None
    userinfo_claims: dict[str, dict[str, object] | None] | None = None

    # Authlib AuthorizationCodeMixin
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def context(self) -> AuthContext:
        return AuthContext(
            person_id=self.person_id, auth_time=self.auth_time, acr=self.acr, amr=self.amr,
            sid=self.sid, nonce=self.nonce, family_id=self.family_id,
            id_token_verified=self.id_token_verified, userinfo_verified=self.userinfo_verified,
            legal_entity=self.legal_entity, id_token_claims=self.id_token_claims,
            userinfo_claims=self.userinfo_claims,
        )


@dataclass(frozen=True, slots=True)
class Redemption:
    """What a code was exchanged for: its grant family, and the access token if already issued."""

    family_id: str
    jti: str | None


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class CodeRecords:
    def __init__(self, store: Store, *, ttl: float, remember_used: float) -> None:
        """`ttl`: how long a code may be exchanged; `remember_used`: how long a redeemed code is
        remembered (the longest the tokens obtained with it can live)."""
        self._store = store
        self.ttl = ttl
        self._remember_used = remember_used

    def save(self, code: str, record: AuthorizationCode, ttl: float | None = None) -> None:
        """Keep the code for `ttl` seconds (a client's profile may want it shorter), else the default."""
        self._store.set(CODE + _code_key(code), orjson.dumps(asdict(record)), self.ttl if ttl is None else ttl)

    def take(self, code: str) -> AuthorizationCode | None:
        """The code's record, removed atomically: of concurrent exchanges only one gets it."""
        raw = self._store.take(CODE + _code_key(code))
        if raw is None:
            return None
        data = orjson.loads(raw)
        for key in ("amr", "id_token_verified", "userinfo_verified"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return AuthorizationCode(**data)

    def redeemed(self, code: str, redemption: Redemption) -> None:
        """Remember what the code was exchanged for."""
        self._store.set(CODE_USED + _code_key(code), orjson.dumps(asdict(redemption)), self._remember_used)

    def redemption(self, code: str) -> Redemption | None:
        """What an already redeemed code was exchanged for; None if it never was (or long ago)."""
        raw = self._store.get(CODE_USED + _code_key(code))
        if raw is None:
            return None
        data = orjson.loads(raw)
        return Redemption(data["family_id"], data["jti"])
