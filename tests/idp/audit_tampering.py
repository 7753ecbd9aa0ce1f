"""What someone with write access to the database might do to the audit log, in raw SQL on the real
database, past the application: edit, delete, forge and reorder events."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select, text

from idp.audit import AuditLog, canonical, event_hash
from idp.storage.tables import AuditEventRow

EVENTS = AuditEventRow.__table__


def a_chain_of(audit: AuditLog, engine: Engine, count: int, *, person: str = "p-1") -> list[Any]:
    """`count` events written in one batch, so in one chain; their rows in sequence order."""
    audit.record_many([("mandate.granted", {"person_id": person, "entity": f"e-{n}", "n": n})
                       for n in range(count)], actor="registry")
    with engine.connect() as conn:
        last = conn.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
        chain = conn.execute(text("SELECT chain FROM audit_events WHERE id = :id"), {"id": last}).scalar_one()
        rows = conn.execute(select(EVENTS).where(EVENTS.c.chain == chain).order_by(EVENTS.c.seq)).all()
    return rows[-count:]


def change_detail(engine: Engine, event_id: int, detail: dict[str, object]) -> None:
    cast = "CAST(:d AS json)" if engine.dialect.name == "postgresql" else ":d"
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_events SET detail = {cast} WHERE id = :id"),  # noqa: S608 - fixed SQL
                     {"d": json.dumps(detail), "id": event_id})


def delete(engine: Engine, event_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})


def swap_sequences(engine: Engine, a: Any, b: Any) -> None:
    """Swap two events' sequence numbers, through a free number (the (chain, seq) index is unique)."""
    with engine.begin() as conn:
        move = text("UPDATE audit_events SET seq = :seq WHERE id = :id")
        conn.execute(move, {"seq": -1, "id": a.id})
        conn.execute(move, {"seq": a.seq, "id": b.id})
        conn.execute(move, {"seq": b.seq, "id": a.id})


def forge(engine: Engine, *, chain: int | None, seq: int | None, prev_hash: str | None,
          kind: str = "login.succeeded", person: str = "p-1") -> int:
    """Insert an event; in a chain, with the hash the application would give it (the forger knows
    the algorithm). Its id."""
    from datetime import UTC, datetime

    at = datetime(2031, 1, 1, tzinfo=UTC)
    detail = {"forged": True}
    digest = None
    if chain is not None and seq is not None and prev_hash is not None:
        digest = event_hash(prev_hash, canonical(chain=chain, seq=seq, at=at, kind=kind, actor=None, person_id=person,
                                                 client_id=None, ip=None, detail=detail))
    cast = "CAST(:detail AS json)" if engine.dialect.name == "postgresql" else ":detail"
    with engine.begin() as conn:
        return conn.execute(text(
            "INSERT INTO audit_events (at, kind, person_id, detail, chain, seq, prev_hash, hash) "  # noqa: S608
            f"VALUES (:at, :kind, :person, {cast}, :chain, :seq, :prev, :hash) RETURNING id"),
            {"at": at if engine.dialect.name == "postgresql" else "2031-01-01 00:00:00.000000", "kind": kind,
             "person": person, "detail": json.dumps(detail), "chain": chain, "seq": seq, "prev": prev_hash,
             "hash": digest}).scalar_one()


def shift_from(engine: Engine, chain: int, seq: int) -> None:
    """Renumber the chain's events from `seq` on one place up, making room for a forged one."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = -(seq + 1) WHERE chain = :c AND seq >= :s"),
                     {"c": chain, "s": seq})
        conn.execute(text("UPDATE audit_events SET seq = -seq WHERE chain = :c AND seq < 0"), {"c": chain})
