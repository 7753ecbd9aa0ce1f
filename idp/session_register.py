"""The register of SSO sessions, in the durable database.

The session itself (factors, chosen entities) lives in the ephemeral store behind the browser's
cookie; this register is what outlives it: which sessions a person has open, on which device, seen
last when and from where, which clients received tokens in each — what the account page lists and
what logout and the expiry sweep fan out from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, RowMapping, bindparam, insert, select, update

from idp.store_sql import SsoSessionRow

_T = SsoSessionRow.__table__


@dataclass(frozen=True, slots=True)
class SessionRecord:
    sid: str
    person_id: str
    store_key: str
    device: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    clients: tuple[str, ...]
    ended_at: datetime | None = None
    end_reason: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: RowMapping) -> SessionRecord:
    return SessionRecord(
        sid=row["sid"], person_id=row["person_id"], store_key=row["store_key"], device=row["device"], ip=row["ip"],
        created_at=_aware(row["created_at"]), last_seen_at=_aware(row["last_seen_at"]),  # type: ignore[arg-type]
        expires_at=_aware(row["expires_at"]), clients=tuple(row["clients"] or ()),  # type: ignore[arg-type]
        ended_at=_aware(row["ended_at"]), end_reason=row["end_reason"],
    )


_TOUCH = (
    update(_T).where(_T.c.sid == bindparam("b_sid"), _T.c.ended_at.is_(None))
    .values(last_seen_at=bindparam("last_seen_at"), expires_at=bindparam("expires_at"), ip=bindparam("ip"))
)


class SqlSessionRegister:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, record: SessionRecord) -> None:
        values = {
            "sid": record.sid, "person_id": record.person_id, "store_key": record.store_key,
            "device": record.device[:200], "ip": record.ip, "created_at": record.created_at,
            "last_seen_at": record.last_seen_at, "expires_at": record.expires_at, "clients": list(record.clients),
            "ended_at": None, "end_reason": None,
        }
        with self._engine.begin() as conn:
            conn.execute(insert(_T), values)

    def touch(self, sid: str, *, last_seen_at: datetime, expires_at: datetime, ip: str | None) -> None:
        with self._engine.begin() as conn:
            conn.execute(_TOUCH, {"b_sid": sid, "last_seen_at": last_seen_at, "expires_at": expires_at, "ip": ip})

    def rekey(self, sid: str, *, store_key: str, last_seen_at: datetime, expires_at: datetime,
              ip: str | None) -> None:
        """The session moved to a new cookie value (a renewed sign-in)."""
        with self._engine.begin() as conn:
            conn.execute(update(_T).where(_T.c.sid == sid).values(
                store_key=store_key, last_seen_at=last_seen_at, expires_at=expires_at, ip=ip))

    def set_clients(self, sid: str, clients: tuple[str, ...]) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(_T).where(_T.c.sid == sid).values(clients=list(clients)))

    def get(self, sid: str) -> SessionRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_T).where(_T.c.sid == sid)).mappings().first()
        return _record(row) if row else None

    def is_ended(self, sid: str) -> bool:
        with self._engine.connect() as conn:
            ended = conn.execute(select(_T.c.ended_at).where(_T.c.sid == sid)).first()
        return ended is None or ended[0] is not None

    def close(self, sid: str, *, reason: str, at: datetime) -> SessionRecord | None:
        """Mark the session ended; return it, or None if it was already ended (by another request
        or worker): whoever closes it is the one who fans the logout out, exactly once."""
        with self._engine.begin() as conn:
            closed = conn.execute(
                update(_T).where(_T.c.sid == sid, _T.c.ended_at.is_(None)).values(ended_at=at, end_reason=reason[:32])
            ).rowcount
            if closed != 1:
                return None
            row = conn.execute(select(_T).where(_T.c.sid == sid)).mappings().first()
        return _record(row) if row else None

    def open_for(self, person_id: str, now: datetime) -> list[SessionRecord]:
        """The person's sessions that are still open, most recently used first."""
        query = (
            select(_T).where(_T.c.person_id == person_id, _T.c.ended_at.is_(None), _T.c.expires_at > now)
            .order_by(_T.c.last_seen_at.desc())
        )
        with self._engine.connect() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def unended_sids(self, person_id: str) -> list[str]:
        query = select(_T.c.sid).where(_T.c.person_id == person_id, _T.c.ended_at.is_(None))
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def expired(self, now: datetime, limit: int = 500) -> list[str]:
        """Sessions past their idle or absolute timeout that nobody has ended yet."""
        query = (
            select(_T.c.sid).where(_T.c.ended_at.is_(None), _T.c.expires_at <= now)
            .order_by(_T.c.expires_at).limit(limit)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())
