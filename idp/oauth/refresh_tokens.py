"""Refresh tokens: opaque, stored only as SHA-256, rotated on every use.

Each token belongs to a family (everything descended from one authorization code). Presenting a
token that was already rotated means it leaked or was replayed: the whole family is revoked, so
neither the thief nor the legitimate client can continue (OAuth 2.0 Security BCP §4.14).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, bindparam, delete, insert, literal_column, select, update

from idp.storage.direct import DirectStatements
from idp.storage.tables import RefreshTokenRow
from levels.clock import utcnow
from levels.store_sql import PersonRow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: str
    family_id: str
    client_id: str
    person_id: str
    session_id: str | None
    scope: str
    auth: dict[str, object]
    access_jti: str | None
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    person_active: bool = False  # read with the token, so a refresh costs one query fewer

    # Authlib TokenMixin-style accessors used by its refresh and revocation grants.
    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_revoked(self) -> bool:
        """Revoked, or already exchanged for a newer token (so no longer usable)."""
        return self.revoked_at is not None or self.used_at is not None

    def is_expired(self) -> bool:
        return _aware(self.expires_at) <= utcnow()


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _from_row(row: RefreshTokenRow) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash, family_id=row.family_id, client_id=row.client_id,
        person_id=row.person_id, session_id=row.session_id, scope=row.scope, auth=dict(row.auth),
        access_jti=row.access_jti, issued_at=_aware(row.issued_at), expires_at=_aware(row.expires_at),
        used_at=row.used_at and _aware(row.used_at), revoked_at=row.revoked_at and _aware(row.revoked_at),
        person_active=getattr(row, "person_status", None) == "active",
    )


class AlreadyUsed(Exception):
    """The refresh token being rotated was used before: a replay or a lost race."""


# Which refresh tokens to revoke: the three ways a grant ends.
@dataclass(frozen=True, slots=True)
class Family:
    """Everything descended from one authorization code (a revoked, replayed or orphaned grant)."""

    family_id: str


@dataclass(frozen=True, slots=True)
class OfSession:
    """Every token issued in one SSO session (the session ended)."""

    sid: str


@dataclass(frozen=True, slots=True)
class OfClient:
    """Every token one client holds for one person (the person disconnected the service)."""

    person_id: str
    client_id: str


GrantSet = Family | OfSession | OfClient


class RefreshTokenStore(Protocol):
    """Durable refresh tokens, stored only as hashes; `SqlRefreshTokenStore` on SQLite or PostgreSQL."""

    def issue(
        self, *, family_id: str, client_id: str, person_id: str, session_id: str | None, scope: str,
        auth: dict[str, object], access_jti: str | None, ttl: int, replaces: str | None = None,
    ) -> str:
        """Store a new token and return it. With `replaces` (a token hash), that token is marked used
        atomically with the insert; if it already was, nothing is stored and `AlreadyUsed` is raised."""
        ...

    def find(self, token: str) -> RefreshToken | None:
        """The token, revoked or used or not, with whether its person is active; None if unknown."""
        ...

    def revoke(self, grants: GrantSet) -> list[str]:
        """Revoke every token of `grants`; return the ids of the access tokens issued alongside them."""
        ...

    def clients_of(self, person_id: str) -> dict[str, datetime]:
        """Clients holding a live refresh token for the person, with when the newest was issued."""
        ...

    def prune(self) -> int:
        """Delete tokens that have expired, used, revoked or not; return how many. A used token is
        kept until then: presenting it again is how a replay is recognised."""
        ...


_table = RefreshTokenRow.__table__
# Statements are built once: building them per call is a visible cost on the refresh hot path.
_people = PersonRow.__table__
_FIND = (
    select(_table, _people.c.status.label("person_status"))
    .outerjoin(_people, _people.c.id == _table.c.person_id)
    .where(_table.c.token_hash == bindparam("token_hash"))
)
_MARK_USED = (
    update(_table)
    .where(_table.c.token_hash == bindparam("old_hash"), _table.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
)
_COLUMNS = ("token_hash", "family_id", "client_id", "person_id", "session_id", "scope", "auth", "access_jti",
            "issued_at", "expires_at")
# Rotation as one statement where the database allows it (PostgreSQL: a data-modifying CTE): the
# successor is inserted only if this statement marked the old token used, so a token that was
# already used (replayed, or a concurrent use that won the row lock) inserts nothing. One statement
# is its own transaction: one round trip instead of BEGIN, UPDATE, INSERT and COMMIT.
# The new row's values are named new_<column>: parameters named like columns would also be taken
# as an UPDATE's SET values.
_NEW = {c: bindparam(f"new_{c}", type_=_table.c[c].type) for c in _COLUMNS}
_INSERT_NEW = insert(_table).values(_NEW)
_USED = _MARK_USED.returning(literal_column("1").label("one")).cte("used")
_ROTATE = (
    insert(_table)
    .from_select(list(_COLUMNS), select(*_NEW.values()).select_from(_USED))
    .returning(_table.c.token_hash)
)
# Rotation adds a row per refresh; expired rows go in batches, each its own short transaction.
PRUNE_BATCH = 5_000
_EXPIRED = select(_table.c.token_hash).where(_table.c.expires_at <= bindparam("now")).limit(bindparam("batch"))
_PRUNE = delete(_table).where(_table.c.token_hash.in_(_EXPIRED.scalar_subquery()))
_REVOKE_FAMILY = (
    update(_table)
    .where(_table.c.family_id == bindparam("family"), _table.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_FAMILY_JTIS = select(_table.c.access_jti).where(_table.c.family_id == bindparam("family"))
_REVOKE_SESSION = (
    update(_table)
    .where(_table.c.session_id == bindparam("sid"), _table.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_SESSION_JTIS = select(_table.c.access_jti).where(_table.c.session_id == bindparam("sid"))
_REVOKE_CLIENT = (
    update(_table)
    .where(_table.c.person_id == bindparam("person"), _table.c.client_id == bindparam("client"),
           _table.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_CLIENT_JTIS = select(_table.c.access_jti).where(
    _table.c.person_id == bindparam("person"), _table.c.client_id == bindparam("client"))


class SqlRefreshTokenStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        # The lookup and the rotation are the refresh hot path: sent straight to the driver.
        self._direct = DirectStatements(engine)
        self._find = self._direct.prepare(_FIND)
        self._insert = self._direct.prepare(_INSERT_NEW)
        self._mark_used = self._direct.prepare(_MARK_USED)
        # A server database's round trips count: rotation there is one statement (a CTE that
        # modifies data), its own transaction. SQLite is in-process and has no such CTE.
        self._rotate = self._direct.prepare(_ROTATE) if engine.dialect.name == "postgresql" else None

    def issue(
        self, *, family_id: str, client_id: str, person_id: str, session_id: str | None, scope: str,
        auth: dict[str, object], access_jti: str | None, ttl: int, replaces: str | None = None,
    ) -> str:
        """Store a new token and return it. With `replaces`, the old token (by hash) is marked used
        in the same transaction; if it already was, nothing is stored and `AlreadyUsed` is raised."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        new = {
            "new_token_hash": hash_token(token), "new_family_id": family_id, "new_client_id": client_id,
            "new_person_id": person_id, "new_session_id": session_id, "new_scope": scope, "new_auth": auth,
            "new_access_jti": access_jti, "new_issued_at": now, "new_expires_at": now + timedelta(seconds=ttl),
        }
        if replaces is None:
            self._direct.first(self._insert, new)
        elif self._rotate is not None:
            if self._direct.first(self._rotate, new | {"old_hash": replaces, "now": now}) is None:
                raise AlreadyUsed
        else:
            with self._direct.transaction() as run:
                marked, _ = run(self._mark_used, {"old_hash": replaces, "now": now})
                if marked != 1:
                    raise AlreadyUsed
                run(self._insert, new)
        return token

    def find(self, token: str) -> RefreshToken | None:
        row = self._direct.first(self._find, {"token_hash": hash_token(token)})
        return _from_row(row) if row else None

    def revoke(self, grants: GrantSet) -> list[str]:
        """Revoke every token of `grants`; return the access-token ids issued alongside them."""
        match grants:
            case Family(family_id):
                revoke, jtis, params = _REVOKE_FAMILY, _FAMILY_JTIS, {"family": family_id}
            case OfSession(sid):
                revoke, jtis, params = _REVOKE_SESSION, _SESSION_JTIS, {"sid": sid}
            case OfClient(person_id, client_id):
                revoke, jtis, params = _REVOKE_CLIENT, _CLIENT_JTIS, {"person": person_id, "client": client_id}
        with self._engine.begin() as conn:
            conn.execute(revoke, {**params, "now": self._clock()})
            found = conn.execute(jtis, params).scalars().all()
        return [j for j in found if j]

    def clients_of(self, person_id: str) -> dict[str, datetime]:
        """Clients holding a live refresh token for the person, with when the newest was issued."""
        query = (
            select(_table.c.client_id, _table.c.issued_at)
            .where(_table.c.person_id == person_id, _table.c.revoked_at.is_(None), _table.c.used_at.is_(None),
                   _table.c.expires_at > self._clock())
        )
        out: dict[str, datetime] = {}
        with self._engine.connect() as conn:
            for client_id, issued_at in conn.execute(query):
                issued = _aware(issued_at)
                if client_id not in out or issued > out[client_id]:
                    out[client_id] = issued
        return out

    def prune(self) -> int:
        """Delete tokens that have expired, used, revoked or not; return how many. A used token is
        kept until then: presenting it again is how a replay is recognised."""
        deleted, now = 0, self._clock()
        while True:
            with self._engine.begin() as conn:
                count = int(conn.execute(_PRUNE, {"now": now, "batch": PRUNE_BATCH}).rowcount)
            deleted += count
            if count < PRUNE_BATCH:
                return deleted
