"""Revoked access tokens: the truth in the durable database, a copy in the ephemeral store.

Access tokens are JWTs checked without a lookup, so revoking one means remembering its `jti` until
it would have expired; ending an SSO session revokes every access token carrying its `sid`. Both
are rows in `access_token_revocations`, written before the revocation is reported done, so they
hold on every instance at once and survive the loss of the store.

The store keeps a mark per revoked key: a token found revoked there costs no database read. A
token the store knows nothing about costs one primary-key read (both keys in one statement); a
hit is copied back into the store. There is deliberately no "not revoked" cache: a revocation
made elsewhere, or a store that lost its marks, could never make such an entry stale.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, bindparam, delete, select

from idp.storage.database import insert_new
from idp.storage.keys import REVOKED
from idp.storage.store import Store, StoreUnavailable
from idp.storage.tables import AccessTokenRevocationRow

log = logging.getLogger("idp.oauth.revocations")

_T = AccessTokenRevocationRow.__table__
_FIND = select(_T.c.expires_at).where(_T.c.key.in_(bindparam("keys", expanding=True))).limit(1)
_PRUNE = delete(_T).where(_T.c.expires_at <= bindparam("now"))
_MARK = REVOKED  # in the store, before the durable key: "revoked:jti:<jti>", "revoked:sid:<sid>"


# The durable keys: one access token, or every access token of one session.
def _jti_key(jti: str) -> str:
    return f"jti:{jti}"


def _sid_key(sid: str) -> str:
    return f"sid:{sid}"


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AccessTokenRevocations(Protocol):
    """Revoked access tokens and ended sessions, durable and shared by every instance."""

    def revoke(self, jtis: Iterable[str] = (), *, sid: str | None = None) -> None:
        """Revoke these access tokens and, with `sid`, every access token of that session; durable on return."""
        ...

    def is_revoked(self, jti: str, sid: str | None = None, *, also: Iterable[str] = ()) -> bool:
        """Is the access token `jti` (issued in session `sid`, if any) revoked? `also`: the tokens it
        was exchanged from (RFC 8693), any of which being revoked revokes it."""
        ...

    def session_revoked(self, sid: str) -> bool:
        """Has the session ended, so that no token may be issued in it any more?"""
        ...

    def prune(self) -> int:
        """Forget revocations of tokens that have all expired; returns how many."""
        ...


class SqlAccessTokenRevocations:
    """Revocations in the `access_token_revocations` table, with a mark per key in the ephemeral store."""

    def __init__(
        self, engine: Engine, store: Store, *, token_horizon: float, session_horizon: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`token_horizon`: seconds a revoked token id must be kept (the longest an access token can
        still be valid, plus leeway); `session_horizon`: the same for a session's `sid`, which also
        covers tokens still minted from authorization codes issued just before the session ended."""
        self._engine = engine
        self._store = store
        self._insert = insert_new(engine, _T, "key")
        self._token_horizon = token_horizon
        self._session_horizon = session_horizon
        self._clock = clock

    def revoke(self, jtis: Iterable[str] = (), *, sid: str | None = None) -> None:
        """Revoke these access tokens and, with `sid`, every access token of that session."""
        now = self._clock()
        rows = [(_jti_key(jti), now + self._token_horizon) for jti in dict.fromkeys(jtis) if jti]
        if sid:
            rows.append((_sid_key(sid), now + self._session_horizon))
        if not rows:
            return
        with self._engine.begin() as conn:
            conn.execute(self._insert, [{"key": k, "expires_at": datetime.fromtimestamp(until, UTC)}
                                        for k, until in rows])
        # The database holds it now; the store's copy only saves later reads.
        try:
            for key, until in rows:
                self._store.set(_MARK + key, b"1", until - now)
        except StoreUnavailable as exc:
            log.warning("revocation recorded, store copy not written: %s", exc)

    def is_revoked(self, jti: str, sid: str | None = None, *, also: Iterable[str] = ()) -> bool:
        return self._any([_jti_key(jti), *(_jti_key(j) for j in also)] + ([_sid_key(sid)] if sid else []))

    def session_revoked(self, sid: str) -> bool:
        """Has the session ended, so that no token may be issued in it any more?"""
        return self._any([_sid_key(sid)])

    def _any(self, keys: list[str]) -> bool:
        try:
            if any(t is not None for t in self._store.ttl_many([_MARK + k for k in keys])):
                return True
        except StoreUnavailable as exc:
            log.warning("store unavailable, revocations read from the database: %s", exc)
        with self._engine.connect() as conn:
            expires_at = conn.execute(_FIND, {"keys": keys}).scalar()
        if expires_at is None:
            return False
        with contextlib.suppress(StoreUnavailable):
            # Which key matched does not matter: either one revokes this token until then.
            self._store.set(_MARK + keys[0], b"1", max(1.0, _aware(expires_at).timestamp() - self._clock()))
        return True

    def prune(self) -> int:
        """Forget revocations of tokens that have all expired; returns how many."""
        with self._engine.begin() as conn:
            return int(conn.execute(_PRUNE, {"now": datetime.fromtimestamp(self._clock(), UTC)}).rowcount)
