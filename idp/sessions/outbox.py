"""The durable outbox of OIDC Back-Channel Logout notifications: one row per client to tell, kept
until delivered or given up.

Ending a session (`idp.sessions.logout.SingleLogout`) only *enqueues*, in a short transaction of its
own; `idp.sessions.delivery.LogoutDeliverer` sends. The row outlives restarts and RP outages, so a
logout is never lost because a portal was down. The lease rules live here, with the rows:

* `claim` is one atomic UPDATE (on PostgreSQL its sub-select uses FOR UPDATE SKIP LOCKED) that
  counts the attempt and pushes `next_attempt_at` a lease into the future. No transaction is open
  while the HTTP request runs. If the process dies mid-send, the row is simply due again once the
  lease ends: delivery is at-least-once, and the jti is the same on every attempt so the RP can
  drop a duplicate (§2.6: an RP may check that it has not seen the jti recently).
* A failure is written back only if the row is still the one claimed (same `attempts`): a worker
  that overran its lease cannot overwrite the state left by the worker that re-claimed the row.
* Because the attempt is counted when it starts, a row that crashes its worker every time still
  runs out of attempts instead of looping forever.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, func, insert, select, update

from idp.storage.tables import LogoutDeliveryRow
from levels.clock import utcnow

if TYPE_CHECKING:
    from clients.registry import ClientRegistry

log = logging.getLogger(__name__)

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES: tuple[str, ...] = (PENDING, DELIVERED, FAILED)

# The width of `logout_deliveries.last_error`: longer reasons are cut, never refused.
MAX_ERROR = 500

_T = LogoutDeliveryRow
_table = LogoutDeliveryRow.__table__




def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns; we only ever store UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox, as operators and tests see it (the token itself is never stored)."""

    id: int
    client_id: str
    uri: str
    sid: str
    person_id: str
    jti: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row a worker has claimed for one attempt; `attempts` includes that attempt and fences
    every write of its outcome."""

    id: int
    client_id: str
    sid: str
    person_id: str
    jti: str
    attempts: int


class LogoutOutbox(Protocol):
    """The durable queue of back-channel logout notifications, and its lease rules."""

    def enqueue(self, *, sid: str, person_id: str, client_ids: Iterable[str]) -> int:
        """Queue a notification of the end of session `sid` for each distinct client in `client_ids`
        that is enabled and registered a `backchannel_logout_uri` (§2.2); return how many were queued.

        Sends nothing: the caller (ending a session) must not wait on RPs. Each row gets a fresh
        random jti, kept for all its attempts.
        """
        ...

    def deliveries(self, *, sid: str | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """Rows matching the filters, newest first; ValueError for a status not in STATUSES."""
        ...

    def retry_failed(
        self, *, ids: Iterable[int] = (), sid: str | None = None, client_id: str | None = None, everything: bool = False
    ) -> int:
        """Give failed deliveries a fresh set of attempts, due now; return how many were reopened.

        For after an RP outage longer than the retry schedule. At least one filter, or `everything`,
        is required (ValueError otherwise) so an operator cannot reopen every failure by accident.
        The jti stays the same.
        """
        ...

    def pending_count(self) -> int:
        """How many notifications wait to be delivered (the outbox's depth, for `/metrics`)."""
        ...

    def claim(self, now: datetime, lease: timedelta) -> Claimed | None:
        """Take the oldest pending row due at `now`: count the attempt and hide the row until
        `now + lease`, atomically, so no other worker claims it meanwhile. None if nothing is due."""
        ...

    def mark_delivered(self, row: Claimed, *, at: datetime, uri: str) -> bool:
        """Record a success (and the URI it went to) if the row is still pending, even if another
        worker re-claimed it meanwhile: the RP has the token. False if the row had moved on."""
        ...

    def reschedule(self, row: Claimed, *, at: datetime, error: str, uri: str) -> bool:
        """Record a failed attempt and make the row due again `at`, if the row is still the one
        claimed (same attempts); False otherwise."""
        ...

    def give_up(self, row: Claimed, *, attempts: int, error: str, uri: str | None = None) -> bool:
        """Mark the row failed for good with `attempts` counted, if it is still the one claimed
        (same attempts); False otherwise."""
        ...


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id, client_id=row.client_id, uri=row.uri, sid=row.sid, person_id=row.person_id, jti=row.jti,
        status=row.status, attempts=row.attempts, next_attempt_at=_aware(row.next_attempt_at),  # type: ignore[arg-type]
        last_error=row.last_error, created_at=_aware(row.created_at),  # type: ignore[arg-type]
        delivered_at=_aware(row.delivered_at),
    )


class SqlLogoutOutbox:
    """`LogoutOutbox` on the `logout_deliveries` table (SQLite embedded, PostgreSQL in production)."""

    def __init__(self, engine: Engine, clients: ClientRegistry, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clients = clients
        self._clock = clock

    def enqueue(self, *, sid: str, person_id: str, client_ids: Iterable[str]) -> int:
        now = self._clock()
        rows = []
        for client_id in dict.fromkeys(client_ids):
            client = self._clients.get(client_id)
            if client is None or not client.enabled or not client.backchannel_logout_uri:
                continue
            rows.append({
                "client_id": client_id, "uri": client.backchannel_logout_uri, "sid": sid,
                "person_id": person_id, "jti": secrets.token_urlsafe(24), "status": PENDING, "attempts": 0,
                "next_attempt_at": now, "last_error": None, "created_at": now, "delivered_at": None,
            })
        if rows:
            with self._engine.begin() as conn:
                conn.execute(insert(_table), rows)
        return len(rows)

    def deliveries(self, *, sid: str | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        query = select(_table).order_by(_T.id.desc()).limit(limit)
        if sid is not None:
            query = query.where(_T.sid == sid)
        if status is not None:
            query = query.where(_T.status == status)
        with self._engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def retry_failed(
        self, *, ids: Iterable[int] = (), sid: str | None = None, client_id: str | None = None, everything: bool = False
    ) -> int:
        id_list = list(ids)
        if not (id_list or sid or client_id or everything):
            raise ValueError("name the deliveries to retry (ids, sid or client), or ask for all of them")
        stmt = update(_T).where(_T.status == FAILED).values(status=PENDING, attempts=0, next_attempt_at=self._clock())
        if id_list:
            stmt = stmt.where(_T.id.in_(id_list))
        if sid is not None:
            stmt = stmt.where(_T.sid == sid)
        if client_id is not None:
            stmt = stmt.where(_T.client_id == client_id)
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount or 0

    def pending_count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_table).where(_T.status == PENDING)).scalar_one())

    def claim(self, now: datetime, lease: timedelta) -> Claimed | None:
        # One UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING: on
        # PostgreSQL concurrent workers skip each other's rows instead of waiting or sending twice;
        # SQLite drops FOR UPDATE, but the statement is still atomic there (one writer at a time).
        due = _table.alias("due")
        pick = (
            select(due.c.id)
            .where(due.c.status == PENDING, due.c.next_attempt_at <= now)
            .order_by(due.c.next_attempt_at, due.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(_T)
            .where(_T.id == pick)
            .values(attempts=_T.attempts + 1, next_attempt_at=now + lease)
            .returning(_T.id, _T.client_id, _T.sid, _T.person_id, _T.jti, _T.attempts)
        )
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return Claimed(row.id, row.client_id, row.sid, row.person_id, row.jti, row.attempts)

    def mark_delivered(self, row: Claimed, *, at: datetime, uri: str) -> bool:
        return self._write(row, fenced=False, status=DELIVERED, delivered_at=at, uri=uri)

    def reschedule(self, row: Claimed, *, at: datetime, error: str, uri: str) -> bool:
        return self._write(row, fenced=True, next_attempt_at=at, last_error=error[:MAX_ERROR], uri=uri)

    def give_up(self, row: Claimed, *, attempts: int, error: str, uri: str | None = None) -> bool:
        values: dict[str, object] = {"status": FAILED, "attempts": attempts, "last_error": error[:MAX_ERROR]}
        if uri is not None:
            values["uri"] = uri
        return self._write(row, fenced=True, **values)

    def _write(self, row: Claimed, *, fenced: bool, **values: object) -> bool:
        """Write an outcome unless the row moved on (no longer pending; if `fenced`, re-claimed)."""
        stmt = update(_T).where(_T.id == row.id, _T.status == PENDING)
        if fenced:
            stmt = stmt.where(_T.attempts == row.attempts)
        with self._engine.begin() as conn:
            done = bool(conn.execute(stmt.values(**values)).rowcount)
        if not done:
            log.warning("back-channel logout row %d was re-claimed by another worker; leaving it to it", row.id)
        return done
