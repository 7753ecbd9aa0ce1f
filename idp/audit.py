"""The audit log: who did what, when, from where. Never records secrets, tokens or national codes.

Tamper evidence. Every event is written into one of `CHAINS` hash chains: it gets the chain's next
sequence number, the hash of the chain's previous event (`prev_hash`) and its own `hash`, SHA-256
over `prev_hash` and a canonical encoding of what is stored (`canonical`: chain, sequence, time in
UTC to the microsecond, kind, actor, person, client, IP and the detail as sorted, compact JSON).
Changing, deleting, inserting or reordering an event breaks its chain from that event on, which
`idp.audit_verify` finds. The row id is not hashed: the database assigns it on insert, and the
(chain, sequence) pair is the event's place; ids only name events in reports.

Why several chains. Each chain has a head row (`audit_chains`: last sequence and hash) that the
writing transaction locks until it commits, so one chain admits one writer at a time. A single
chain would serialise every audited write of every worker and instance (the sign-in path writes
one per sign-in, the target is 450 sign-ins a second) behind one row lock held for a few round
trips and a commit. With 16 chains, on PostgreSQL a writer takes the first head that nobody holds
(`FOR UPDATE SKIP LOCKED`, starting at a random chain so writers spread out) and waits only if all
16 are busy. Which chain an event lands in means nothing; order across chains is given by time.
SQLite allows one writer at a time anyway; there the transaction starts by updating the head, so
the head is read under the write lock and two processes can never take the same sequence number.
The unique (chain, seq) index is the last line of defence: a fork of a chain cannot be committed.

Cost. On PostgreSQL an event is three round trips (lock a head; insert the event and move the head
in one statement; commit) where an unchained insert was two, and a head is held for the last two.
The statements are built once and `record` sends them straight to the driver, which saves more
CPU than the hashing (a few microseconds) and the extra statement cost.

`record_many` writes its whole batch into one chain, under one lock, in one transaction: either
every event is chained or none is.

Events written before the chains existed (migration 0017) stay unchained; see `idp.audit_verify`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, bindparam, insert, select, update

from idp import logs, metrics
from idp.storage.direct import DirectStatements
from idp.storage.tables import AuditChainRow, AuditEventRow
from levels.clock import utcnow

log = logging.getLogger("idp.audit")

# Number of hash chains; migration 0017 creates their head rows.
CHAINS = 16
# The `prev_hash` of each chain's first event.
GENESIS = "0" * 64
# Bumped if the canonical encoding ever changes (it is the first element of every encoding).
ENCODING = 1


def moment(at: datetime) -> str:
    """A stored time as hashed and exported: UTC, to the microsecond (`2031-03-21T08:30:00.000000Z`).
    SQLite gives back naive UTC, PostgreSQL an aware time in the session's zone: both read the same."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    *, chain: int, seq: int, at: datetime, kind: str, actor: str | None, person_id: str | None,
    client_id: str | None, ip: str | None, detail: Mapping[str, object],
) -> bytes:
    """The bytes an event's hash covers: its stored fields as compact JSON, keys sorted."""
    return json.dumps([ENCODING, chain, seq, moment(at), kind, actor, person_id, client_id, ip, detail],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def event_hash(prev_hash: str, encoded: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + encoded).hexdigest()


def row_hash(row: AuditEventRow, *, seq: int | None = None) -> str:
    """The hash a stored row (or a result row with the same columns) should carry, at sequence
    `seq` if given, else at its own."""
    encoded = canonical(chain=row.chain, seq=row.seq if seq is None else seq, at=row.at,  # type: ignore[arg-type]
                        kind=row.kind, actor=row.actor, person_id=row.person_id, client_id=row.client_id,
                        ip=row.ip, detail=row.detail)
    return event_hash(row.prev_hash or "", encoded)


def _stored(detail: Mapping[str, object] | None) -> dict[str, object]:
    """The detail as the database gives it back (tuples become lists, keys strings), so that what
    is hashed is what is read."""
    return json.loads(json.dumps(dict(detail or {}), allow_nan=False))  # type: ignore[no-any-return]


# Statements are built once (building them per call is a visible cost on the sign-in path) and the
# single event of `record` goes straight to the driver (`idp.storage.direct`). Parameters are named
# new_<column> and head_<column>: parameters named like columns would also be taken as SET values.
_EVENTS = AuditEventRow.__table__
_HEADS = AuditChainRow.__table__
_FIELDS = ("at", "kind", "actor", "person_id", "client_id", "ip", "detail", "chain", "seq", "prev_hash", "hash")
_NEW = {c: bindparam(f"new_{c}", type_=_EVENTS.c[c].type) for c in _FIELDS}
_INSERT = insert(_EVENTS).values(_NEW)
_HEAD_COLUMNS = (_HEADS.c.chain, _HEADS.c.seq, _HEADS.c.hash)
# PostgreSQL: the first head nobody holds, from a random one on; else wait for that one.
_TAKE_FREE_HEAD = (select(*_HEAD_COLUMNS).order_by(_HEADS.c.chain < bindparam("head_start"), _HEADS.c.chain)
                   .limit(bindparam("head_limit", 1)).with_for_update(skip_locked=True))
_WAIT_FOR_HEAD = select(*_HEAD_COLUMNS).where(_HEADS.c.chain == bindparam("head_start")).with_for_update()
# SQLite: writing first takes the database's write lock; the head is read under it.
_ADVANCE_HEAD = (update(_HEADS).where(_HEADS.c.chain == bindparam("head_start"))
                 .values(seq=_HEADS.c.seq + bindparam("head_count")).returning(*_HEAD_COLUMNS))
_SET_HEAD = (update(_HEADS).where(_HEADS.c.chain == bindparam("head_chain"))
             .values(seq=bindparam("head_seq"), hash=bindparam("head_hash")))
# PostgreSQL: the event and its chain's new head in one statement (a data-modifying CTE), one round trip.
_INSERT_AND_SET_HEAD = _SET_HEAD.add_cte(_INSERT.cte("new_event"))


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._postgres = engine.dialect.name == "postgresql"
        self._direct = DirectStatements(engine)
        if self._postgres:
            self._take_free = self._direct.prepare(_TAKE_FREE_HEAD)
            self._wait_for = self._direct.prepare(_WAIT_FOR_HEAD)
            self._insert_and_set = self._direct.prepare(_INSERT_AND_SET_HEAD)
        else:
            self._advance = self._direct.prepare(_ADVANCE_HEAD)
            self._insert = self._direct.prepare(_INSERT)
            self._set_head = self._direct.prepare(_SET_HEAD)

    def record(
        self,
        kind: str,
        *,
        actor: str | None = None,
        person_id: str | None = None,
        client_id: str | None = None,
        ip: str | None = None,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        at = self._now()
        stored = _stored(detail)
        with self._direct.transaction() as run:
            if self._postgres:
                head = run(self._take_free, {"head_start": _random_chain(), "head_limit": 1})[1]
                if head is None:  # every chain is being written: wait for one
                    head = run(self._wait_for, {"head_start": _random_chain()})[1]
                chain, seq = head.chain, head.seq + 1
            else:
                head = run(self._advance, {"head_start": _random_chain(), "head_count": 1})[1]
                chain, seq = head.chain, head.seq
            digest = event_hash(head.hash, canonical(chain=chain, seq=seq, at=at, kind=kind, actor=actor,
                                                     person_id=person_id, client_id=client_id, ip=ip, detail=stored))
            event = {"new_at": at, "new_kind": kind, "new_actor": actor, "new_person_id": person_id,
                     "new_client_id": client_id, "new_ip": ip, "new_detail": stored, "new_chain": chain,
                     "new_seq": seq, "new_prev_hash": head.hash, "new_hash": digest}
            new_head = {"head_chain": chain, "head_seq": seq, "head_hash": digest}
            if self._postgres:
                run(self._insert_and_set, event | new_head)
            else:
                run(self._insert, event)
                run(self._set_head, new_head)
        # Recorded, so it happened: the metrics that count such events follow the audit log (`idp.metrics`).
        metrics.audited(kind, detail or {})
        logs.set_client_id(client_id)
        log.info("audit %s", kind, extra=logs.fields("audit", kind=kind, person_id=person_id, client_id=client_id))

    def record_many(self, events: Sequence[tuple[str, Mapping[str, object]]], *, actor: str) -> None:
        """Many events in one transaction (a registry import can produce tens of thousands), in one
        chain, under one lock: either all are recorded and chained or none is."""
        if not events:
            return
        at = self._now()
        with self._engine.begin() as conn:
            start = _random_chain()
            if self._postgres:
                head = conn.execute(_TAKE_FREE_HEAD, {"head_start": start}).first() \
                    or conn.execute(_WAIT_FOR_HEAD, {"head_start": start}).one()
                chain, seq, prev = head.chain, head.seq, head.hash
            else:
                head = conn.execute(_ADVANCE_HEAD, {"head_start": start, "head_count": len(events)}).one()
                chain, seq, prev = head.chain, head.seq - len(events), head.hash
            rows = []
            for kind, detail in events:
                seq += 1
                subjects = _subjects(detail)
                stored = _stored(detail)
                digest = event_hash(prev, canonical(chain=chain, seq=seq, at=at, kind=kind, actor=actor, ip=None,
                                                    detail=stored, **subjects))
                rows.append({"new_at": at, "new_kind": kind, "new_actor": actor, "new_person_id": subjects["person_id"],
                             "new_client_id": subjects["client_id"], "new_ip": None, "new_detail": stored,
                             "new_chain": chain, "new_seq": seq, "new_prev_hash": prev, "new_hash": digest})
                prev = digest
            conn.execute(_INSERT, rows)
            conn.execute(_SET_HEAD, {"head_chain": chain, "head_seq": seq, "head_hash": prev})
        log.info("audit %d events by %s", len(rows), actor, extra=logs.fields("audit.batch", events=len(rows),
                                                                               actor=actor))

    def _now(self) -> datetime:
        at = self._clock()
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

    def sink(self, actor: str) -> AuditSink:
        """An audit callback for a domain package (client registry, proofing), acting as `actor`."""
        return AuditSink(self, actor)

    def recent(self, *, kind: str | None = None, limit: int = 50) -> list[AuditEventRow]:
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if kind:
            query = query.where(AuditEventRow.kind == kind)
        with self._engine.connect() as conn:
            return list(conn.execute(query).all())  # type: ignore[arg-type]

    def for_person(self, person_id: str, limit: int = 50) -> list[AuditEventRow]:
        """The person's own events, newest first (their account's activity page); served by the
        (person_id, at) index."""
        query = (
            select(AuditEventRow).where(AuditEventRow.person_id == person_id)
            .order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc()).limit(limit)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).all())  # type: ignore[arg-type]


def _random_chain() -> int:
    return random.randrange(CHAINS)  # noqa: S311 - spreads writers over the chains; nothing to guess


def _subjects(detail: Mapping[str, object]) -> dict[str, str | None]:
    person_id, client_id = detail.get("person_id"), detail.get("client_id")
    return {"person_id": str(person_id) if person_id else None, "client_id": str(client_id) if client_id else None}


class AuditSink:
    """Called as `sink(kind, detail)`; `many(events)` records a batch in one transaction."""

    def __init__(self, log: AuditLog, actor: str) -> None:
        self._log = log
        self._actor = actor

    def __call__(self, kind: str, detail: Mapping[str, object]) -> None:
        self._log.record(kind, actor=self._actor, detail=detail, **_subjects(detail))

    def many(self, events: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        self._log.record_many(events, actor=self._actor)
