"""Checking the audit log's hash chains (`idp audit verify`) and reading it out in order (`idp audit
export`), in batches, so that millions of events never sit in memory at once.

Each chain is walked in sequence order from its first event, up to the head read when the check
began (events written while it runs are left for the next check). The first event that does not
fit is named, with what most likely happened to it:

- changed: its content no longer gives its hash, but it still follows its predecessor; also an
  event whose hash was recomputed after an edit, which its successor (or the head) no longer
  follows;
- deleted: a sequence number is missing (or the chain ends before its head);
- inserted: an event whose successor follows its predecessor instead (it was slipped in and the
  later events renumbered), an event beyond the chain's head, or an unchained event written after
  the chains began;
- reordered: an event that hashes correctly at another sequence number of its chain.

Events written before the chains existed (migration 0017) carry no chain; they are counted and not
checked, and one with an id above the first chained event's id is reported as inserted (the ids
only grow, so none of them can legitimately come after it). What the chains cannot show is a chain
tail rewritten consistently, head row included, by someone with write access to the database:
shipping the events (or at least each chain's latest hash) elsewhere, `idp audit export`, is what
pins them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from idp.audit import GENESIS, moment, row_hash
from idp.storage.tables import AuditChainRow, AuditEventRow

# Events read per query.
BATCH = 5000

_EVENT = AuditEventRow.__table__
_HEAD = AuditChainRow.__table__


@dataclass(frozen=True, slots=True)
class Break:
    """The first event of a chain that does not fit. `event_id` is None for a deleted event."""

    chain: int | None
    kind: str  # changed | deleted | inserted | reordered
    seq: int | None
    event_id: int | None
    message: str


@dataclass(slots=True)
class ChainReport:
    chain: int
    head_seq: int
    checked: int = 0
    broken: Break | None = None


@dataclass(slots=True)
class Report:
    chains: list[ChainReport] = field(default_factory=list)
    unchained: int = 0  # events from before the chains, not checked
    stray: Break | None = None  # an unchained event written after the chains began

    @property
    def checked(self) -> int:
        return sum(c.checked for c in self.chains)

    @property
    def breaks(self) -> list[Break]:
        found = [c.broken for c in self.chains if c.broken is not None]
        return found + ([self.stray] if self.stray else [])

    @property
    def intact(self) -> bool:
        return not self.breaks

    def as_dict(self) -> dict[str, object]:
        return {
            "intact": self.intact, "events_checked": self.checked, "chains": len(self.chains),
            "unchained_events": self.unchained,
            "breaks": [{"chain": b.chain, "kind": b.kind, "sequence": b.seq, "event_id": b.event_id,
                        "message": b.message} for b in self.breaks],
        }


def verify(engine: Engine, *, batch: int = BATCH) -> Report:
    """Walk every chain; name the first event of each that was changed, deleted, inserted or reordered."""
    report = Report()
    with engine.connect() as conn:
        heads = conn.execute(select(_HEAD.c.chain, _HEAD.c.seq, _HEAD.c.hash).order_by(_HEAD.c.chain)).all()
    for head in heads:
        report.chains.append(_walk(engine, head.chain, head.seq, head.hash, batch))
    with engine.connect() as conn:
        report.unchained = conn.execute(select(func.count()).where(_EVENT.c.chain.is_(None))).scalar_one()
        first_chained = conn.execute(select(func.min(_EVENT.c.id)).where(_EVENT.c.chain.is_not(None))).scalar()
        if report.unchained and first_chained is not None:
            stray = conn.execute(select(func.min(_EVENT.c.id)).where(
                _EVENT.c.chain.is_(None), _EVENT.c.id > first_chained)).scalar()
            if stray is not None:
                report.stray = Break(None, "inserted", None, stray,
                                     f"event {stray} is in no chain but was written after the chains began: "
                                     "it was inserted")
    return report


def _walk(engine: Engine, chain: int, head_seq: int, head_hash: str, batch: int) -> ChainReport:
    result = ChainReport(chain, head_seq)

    def broken(kind: str, seq: int | None, event_id: int | None, what: str) -> ChainReport:
        result.broken = Break(chain, kind, seq, event_id, f"chain {chain}: {what}")
        return result

    expected_seq, expected_prev, previous = 1, GENESIS, None
    for row in _chain_rows(engine, chain, head_seq, batch):
        if row.seq > expected_seq:
            after = f"after event {previous.id}" if previous is not None else "the chain's first event"
            missing = (f"the event at sequence {expected_seq} was deleted" if row.seq == expected_seq + 1
                       else f"the events at sequences {expected_seq}-{row.seq - 1} were deleted")
            return broken("deleted", expected_seq, None, f"{missing} ({after}, before event {row.id})")
        if row.seq < expected_seq:  # a second event at one sequence (only without the unique index)
            return broken("inserted", row.seq, row.id, f"event {row.id} (sequence {row.seq}) was inserted")
        fits_itself = row_hash(row) == row.hash
        follows = row.prev_hash == expected_prev
        if not (fits_itself and follows):
            if follows:
                return broken("changed", row.seq, row.id, f"event {row.id} (sequence {row.seq}) was changed")
            if previous is not None and row.prev_hash == previous.prev_hash:
                return broken("inserted", previous.seq, previous.id,
                              f"event {previous.id} (sequence {previous.seq}) was inserted")
            if previous is not None and fits_itself:
                return broken("changed", previous.seq, previous.id, f"event {previous.id} (sequence {previous.seq}) "
                              "was changed (and its hash recomputed)")
            written_at = _original_seq(row, head_seq)
            if written_at is not None:
                return broken("reordered", row.seq, row.id, f"event {row.id} (sequence {row.seq}) was reordered: "
                              f"it was written at sequence {written_at}")
            return broken("changed", row.seq, row.id, f"event {row.id} (sequence {row.seq}) was changed")
        result.checked += 1
        expected_seq, expected_prev, previous = row.seq + 1, row.hash, row
    last = expected_seq - 1
    if last < head_seq:
        after = f"after event {previous.id}" if previous is not None else "the whole chain"
        missing = (f"the event at sequence {head_seq} was deleted" if last + 1 == head_seq
                   else f"the events at sequences {last + 1}-{head_seq} were deleted")
        return broken("deleted", last + 1, None, f"{missing} ({after})")
    if previous is not None and previous.hash != head_hash:
        return broken("changed", previous.seq, previous.id, f"event {previous.id} (sequence {previous.seq}) "
                      "was changed (and its hash recomputed)")
    beyond = _beyond_head(engine, chain)
    if beyond is not None:
        return broken("inserted", beyond.seq, beyond.id, f"event {beyond.id} (sequence {beyond.seq}) was inserted "
                      "after the chain's last event")
    return result


def _chain_rows(engine: Engine, chain: int, head_seq: int, batch: int) -> Iterator[Any]:
    """The chain's events up to `head_seq`, in sequence order, `batch` per query."""
    after = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(_EVENT).where(_EVENT.c.chain == chain, _EVENT.c.seq > after, _EVENT.c.seq <= head_seq)
                .order_by(_EVENT.c.seq).limit(batch)
            ).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def _original_seq(row: Any, head_seq: int) -> int | None:
    """The sequence number at which `row` hashes correctly, if another one of its chain does."""
    return next((seq for seq in range(1, head_seq + 1) if seq != row.seq and row_hash(row, seq=seq) == row.hash),
                None)


def _beyond_head(engine: Engine, chain: int) -> Any | None:
    """An event past the chain's head. Head and events are read in one statement: a writer commits
    both together, so in one snapshot an event past the head was not written by a writer."""
    with engine.connect() as conn:
        return conn.execute(
            select(_EVENT.c.id, _EVENT.c.seq).select_from(_EVENT.join(_HEAD, _HEAD.c.chain == _EVENT.c.chain))
            .where(_EVENT.c.chain == chain, _EVENT.c.seq > _HEAD.c.seq).order_by(_EVENT.c.seq).limit(1)
        ).first()


def export(engine: Engine, since: datetime, until: datetime | None = None, *,
           batch: int = BATCH) -> Iterator[dict[str, object]]:
    """Events with `since` <= time < `until`, oldest first (by time, then id), as JSON-ready dicts
    with their chain, sequence and hashes: enough for a log store to check the chains itself."""
    last: tuple[datetime, int] | None = None
    while True:
        query = select(_EVENT).where(_EVENT.c.at >= since)
        if until is not None:
            query = query.where(_EVENT.c.at < until)
        if last is not None:
            query = query.where(or_(_EVENT.c.at > last[0], and_(_EVENT.c.at == last[0], _EVENT.c.id > last[1])))
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(_EVENT.c.at, _EVENT.c.id).limit(batch)).all()
        for row in rows:
            yield {"id": row.id, "chain": row.chain, "sequence": row.seq, "at": moment(row.at), "kind": row.kind,
                   "actor": row.actor, "person_id": row.person_id, "client_id": row.client_id, "ip": row.ip,
                   "detail": row.detail, "prev_hash": row.prev_hash, "hash": row.hash}
        if len(rows) < batch:
            return
        last = (rows[-1].at, rows[-1].id)
