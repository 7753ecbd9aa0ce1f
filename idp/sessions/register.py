"""The register of SSO sessions, in the durable database: the truth about every session.

It holds each session whole — person, factors with their times, clients, who the person acts as at
each client, device, IP, last use and expiry — so the ephemeral store keeps only a copy for speed
and a session it loses is restored from here (`idp.sessions.sso`). It is what the account page lists
and what logout and the expiry sweep fan out from. Every update applies only to a session not yet
ended: once ended (by logout, the account page, an operator, expiry), a session never comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, RowMapping, bindparam, insert, select, update

from idp.storage.tables import SsoSessionRow

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
    # (amr, epoch seconds) per factor; None for a session opened before the register kept them.
    factors: tuple[tuple[str, float], ...] | None = None
    acting: dict[str, str] = field(default_factory=dict)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: RowMapping) -> SessionRecord:
    return SessionRecord(
        sid=row["sid"], person_id=row["person_id"], store_key=row["store_key"], device=row["device"], ip=row["ip"],
        created_at=_aware(row["created_at"]), last_seen_at=_aware(row["last_seen_at"]),  # type: ignore[arg-type]
        expires_at=_aware(row["expires_at"]), clients=tuple(row["clients"] or ()),  # type: ignore[arg-type]
        ended_at=_aware(row["ended_at"]), end_reason=row["end_reason"],
        factors=_factors_from(row["factors"]), acting=dict(row["acting"] or {}),
    )


def _factors_from(value: object) -> tuple[tuple[str, float], ...] | None:
    if not isinstance(value, list) or not value:
        return None
    return tuple((str(f["method"]), float(f["at"])) for f in value)


def _factors_to(factors: tuple[tuple[str, float], ...] | None) -> list[dict[str, object]] | None:
    return None if factors is None else [{"method": m, "at": at} for m, at in factors]


# A touch also writes the factors and choices (unchanged, normally): a session opened before the
# register kept them becomes restorable at its next use.
_TOUCH = (
    update(_T).where(_T.c.sid == bindparam("b_sid"), _T.c.ended_at.is_(None))
    .values(last_seen_at=bindparam("last_seen_at"), expires_at=bindparam("expires_at"), ip=bindparam("ip"),
            factors=bindparam("factors"), acting=bindparam("acting"))
)
_BY_STORE_KEY = select(_T).where(_T.c.store_key == bindparam("store_key"))


class SessionRegister(Protocol):
    """The durable truth about SSO sessions. Every update applies only to a session not yet ended,
    and returns False (writing nothing) when it has ended."""

    def open(self, record: SessionRecord) -> None:
        """Record a new session."""
        ...

    def touch(self, sid: str, *, last_seen_at: datetime, expires_at: datetime, ip: str | None,
              factors: tuple[tuple[str, float], ...], acting: dict[str, str]) -> bool:
        """The session was used: its last use, expiry and address (factors and choices rewritten as given)."""
        ...

    def rekey(self, sid: str, *, store_key: str, last_seen_at: datetime, expires_at: datetime,
              ip: str | None, factors: tuple[tuple[str, float], ...]) -> bool:
        """The session moved to a new cookie value (a renewed sign-in), with the factors proven again."""
        ...

    def set_clients(self, sid: str, clients: tuple[str, ...], acting: dict[str, str]) -> bool:
        """The clients that received tokens in the session, and whom the person acts as at each."""
        ...

    def set_factors(self, sid: str, factors: tuple[tuple[str, float], ...]) -> bool:
        """The factors proven in the session, with their times."""
        ...

    def by_store_key(self, store_key: str) -> SessionRecord | None:
        """The session a cookie belongs to (the store key is a hash of the cookie), ended or not."""
        ...

    def get(self, sid: str) -> SessionRecord | None:
        """The session, ended or not; None if unknown."""
        ...

    def is_ended(self, sid: str) -> bool:
        """True if the session has ended, or is unknown."""
        ...

    def close(self, sid: str, *, reason: str, at: datetime) -> SessionRecord | None:
        """Mark the session ended; return it, or None if it was already ended: of concurrent callers
        exactly one gets the record (and fans the logout out)."""
        ...

    def open_for(self, person_id: str, now: datetime) -> list[SessionRecord]:
        """The person's sessions that are still open at `now`, most recently used first."""
        ...

    def unended_sids(self, person_id: str) -> list[str]:
        """Every session of the person nobody has ended yet, expired or not."""
        ...

    def expired(self, now: datetime, limit: int = 500) -> list[str]:
        """Sessions past their idle or absolute timeout at `now` that nobody has ended yet, oldest first."""
        ...


class SqlSessionRegister:
    """The register in the `sso_sessions` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, record: SessionRecord) -> None:
        values = {
            "sid": record.sid, "person_id": record.person_id, "store_key": record.store_key,
            "device": record.device[:200], "ip": record.ip, "created_at": record.created_at,
            "last_seen_at": record.last_seen_at, "expires_at": record.expires_at, "clients": list(record.clients),
            "factors": _factors_to(record.factors), "acting": dict(record.acting), "ended_at": None, "end_reason": None,
        }
        with self._engine.begin() as conn:
            conn.execute(insert(_T), values)

    # Each update below returns False when the session has ended (nothing is written then).
    def touch(self, sid: str, *, last_seen_at: datetime, expires_at: datetime, ip: str | None,
              factors: tuple[tuple[str, float], ...], acting: dict[str, str]) -> bool:
        with self._engine.begin() as conn:
            return conn.execute(_TOUCH, {
                "b_sid": sid, "last_seen_at": last_seen_at, "expires_at": expires_at, "ip": ip,
                "factors": _factors_to(factors), "acting": dict(acting)}).rowcount == 1

    def rekey(self, sid: str, *, store_key: str, last_seen_at: datetime, expires_at: datetime,
              ip: str | None, factors: tuple[tuple[str, float], ...]) -> bool:
        """The session moved to a new cookie value (a renewed sign-in), with the factors proven again."""
        return self._update(sid, store_key=store_key, last_seen_at=last_seen_at, expires_at=expires_at, ip=ip,
                            factors=_factors_to(factors))

    def set_clients(self, sid: str, clients: tuple[str, ...], acting: dict[str, str]) -> bool:
        return self._update(sid, clients=list(clients), acting=dict(acting))

    def set_factors(self, sid: str, factors: tuple[tuple[str, float], ...]) -> bool:
        return self._update(sid, factors=_factors_to(factors))

    def _update(self, sid: str, **values: object) -> bool:
        with self._engine.begin() as conn:
            return conn.execute(update(_T).where(_T.c.sid == sid, _T.c.ended_at.is_(None)).values(**values)
                                ).rowcount == 1

    def by_store_key(self, store_key: str) -> SessionRecord | None:
        """The session a cookie belongs to (the store key is a hash of the cookie), ended or not."""
        with self._engine.connect() as conn:
            row = conn.execute(_BY_STORE_KEY, {"store_key": store_key}).mappings().first()
        return _record(row) if row else None

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
