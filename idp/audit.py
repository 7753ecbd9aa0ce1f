"""The audit log: who did what, when, from where. Never records secrets, tokens or national codes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select

from idp.store_sql import AuditEventRow

log = logging.getLogger("idp.audit")


class AuditLog:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
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
        log.info("audit %s person=%s client=%s", kind, person_id, client_id)

    def sink(self, actor: str) -> Callable[[str, Mapping[str, object]], None]:
        """An audit callback for a domain package (client registry, proofing), acting as `actor`."""

        def _record(kind: str, detail: Mapping[str, object]) -> None:
            person_id, client_id = detail.get("person_id"), detail.get("client_id")
            self.record(kind, actor=actor, person_id=str(person_id) if person_id else None,
                        client_id=str(client_id) if client_id else None, detail=detail)

        return _record

    def recent(self, *, kind: str | None = None, limit: int = 50) -> list[AuditEventRow]:
        query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
        if kind:
            query = query.where(AuditEventRow.kind == kind)
        with self._engine.connect() as conn:
            return list(conn.execute(query).all())  # type: ignore[arg-type]
