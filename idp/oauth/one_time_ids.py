"""Client-assertion ids already used (RFC 7523 §3 item 7), in the durable database.

An assertion may be presented once. Its id is claimed by inserting a row whose primary key is a
hash of the client id and the `jti`: of concurrent uses exactly one insert succeeds, at the
database, and the claim survives a lost ephemeral store. Rows are kept until the assertion has
expired (after that the assertion is refused for its `exp` anyway) and then pruned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, bindparam, delete

from idp.storage.database import insert_new
from idp.storage.tables import UsedClientAssertionRow
from levels.clock import utcnow

_T = UsedClientAssertionRow.__table__
_PRUNE = delete(_T).where(_T.c.expires_at <= bindparam("now"))


def _key(client_id: str, jti: str) -> str:
    # A fixed-size key whatever the client puts in `jti`; the NUL keeps "a"+"bc" apart from "ab"+"c".
    return hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()


class UsedAssertions(Protocol):
    """Client-assertion ids already presented, each claimable once."""

    def claim(self, client_id: str, jti: str, until: float) -> bool:
        """True if this is the first use of `jti` by the client; remembered until `until` (epoch seconds)."""
        ...

    def prune(self) -> int:
        """Forget ids of assertions that have expired; returns how many."""
        ...


class SqlUsedAssertions:
    """Used assertion ids in the `used_client_assertions` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._insert = insert_new(engine, _T, "key").returning(_T.c.key)
        self._clock = clock

    def claim(self, client_id: str, jti: str, until: float) -> bool:
        """True if this is the first use of `jti` by the client; remembered until `until` (epoch seconds)."""
        with self._engine.begin() as conn:
            created = conn.execute(self._insert, {
                "key": _key(client_id, jti), "expires_at": datetime.fromtimestamp(until, UTC)}).first()
        return created is not None

    def prune(self) -> int:
        """Forget ids of assertions that have expired; returns how many."""
        with self._engine.begin() as conn:
            return int(conn.execute(_PRUNE, {"now": self._clock()}).rowcount)
