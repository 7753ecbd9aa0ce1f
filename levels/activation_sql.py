"""Durable activation codes: the `activation_codes` table and an `ActivationStore` on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import DateTime, Engine, ForeignKey, Integer, String, Table, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from levels.activation import ActivationRecord
from levels.store_sql import Base


class ActivationCodeRow(Base):
    __tablename__ = "activation_codes"

    # One live code per person: a new one replaces the row.
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)


_CODES = cast(Table, ActivationCodeRow.__table__)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class SqlActivationStore:
    """An `ActivationStore` on the `activation_codes` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def replace(self, person_id: str, code_hash: str, issued_at: datetime, expires_at: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_CODES).where(_CODES.c.person_id == person_id))
            conn.execute(insert(_CODES).values(
                person_id=person_id, code_hash=code_hash, issued_at=issued_at.astimezone(UTC),
                expires_at=expires_at.astimezone(UTC), failures=0))

    def get(self, person_id: str) -> ActivationRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_CODES).where(_CODES.c.person_id == person_id)).mappings().first()
        if row is None:
            return None
        return ActivationRecord(row["person_id"], row["code_hash"], _utc(row["issued_at"]), _utc(row["expires_at"]),
                                row["failures"])

    def count_failure(self, person_id: str) -> int:
        with self._engine.begin() as conn:
            count = conn.execute(
                update(_CODES).where(_CODES.c.person_id == person_id).values(failures=_CODES.c.failures + 1)
                .returning(_CODES.c.failures)).scalar()
        return int(count or 0)

    def take(self, person_id: str, code_hash: str) -> bool:
        with self._engine.begin() as conn:
            gone = conn.execute(delete(_CODES).where(_CODES.c.person_id == person_id)
                                .where(_CODES.c.code_hash == code_hash))
        return gone.rowcount == 1

    def delete(self, person_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_CODES).where(_CODES.c.person_id == person_id))
