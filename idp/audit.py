"""The audit log: who did what, when, from where. Never records secrets, tokens or national codes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, insert, select

from idp import logs, metrics
from idp.storage.tables import AuditEventRow
from levels.clock import utcnow

log = logging.getLogger("idp.audit")


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

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
        with self._engine.begin() as conn:
            conn.execute(
                insert(AuditEventRow).values(
                    at=self._clock(), kind=kind, actor=actor, person_id=person_id,
                    client_id=client_id, ip=ip, detail=dict(detail or {}),
                )
            )
        # Recorded, so it happened: the metrics that count such events follow the audit log (`idp.metrics`).
        metrics.audited(kind, detail or {})
        logs.set_client_id(client_id)
        log.info("audit %s", kind, extra=logs.fields("audit", kind=kind, person_id=person_id, client_id=client_id))

    def record_many(self, events: Sequence[tuple[str, Mapping[str, object]]], *, actor: str) -> None:
        """Many events in one transaction (a registry import can produce tens of thousands)."""
        if not events:
            return
        at = self._clock()
        rows = [{"at": at, "kind": kind, "actor": actor, "ip": None, "detail": dict(detail), **_subjects(detail)}
                for kind, detail in events]
        with self._engine.begin() as conn:
            conn.execute(insert(AuditEventRow), rows)
        log.info("audit %d events by %s", len(rows), actor, extra=logs.fields("audit.batch", events=len(rows),
                                                                               actor=actor))

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
