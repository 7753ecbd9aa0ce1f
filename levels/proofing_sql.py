"""Durable proofing records: the `proofing_records` table and a `ProofingRecordStore` on it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import JSON, BigInteger, DateTime, Engine, ForeignKey, Index, Integer, String, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from levels.people import UnknownPerson
from levels.proofing import ProofingRecord
from levels.store_sql import Base


class ProofingRecordRow(Base):
    __tablename__ = "proofing_records"
    __table_args__ = (Index("ix_proofing_person_at", "person_id", "verified_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    tier: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    trust_framework: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[dict[str, object]] = mapped_column(JSON)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    operator: Mapped[str | None] = mapped_column(String(128), nullable=True)


_RECORDS = cast(Table, ProofingRecordRow.__table__)


class SqlProofingStore:
    """A `ProofingRecordStore` on the `proofing_records` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self,
        person_id: str,
        *,
        tier: int,
        method: str,
        trust_framework: str,
        evidence: Mapping[str, object],
        verified_at: datetime,
        operator: str | None = None,
    ) -> ProofingRecord:
        verified_at = verified_at.astimezone(UTC)
        try:
            with self._engine.begin() as conn:
                new_id: int = conn.execute(insert(_RECORDS).values(
                    person_id=person_id, tier=tier, method=method, trust_framework=trust_framework,
                    evidence=dict(evidence), verified_at=verified_at, operator=operator,
                ).returning(_RECORDS.c.id)).scalar_one()
        except IntegrityError:
            raise UnknownPerson(person_id) from None
        return ProofingRecord(new_id, person_id, tier, method, trust_framework, dict(evidence), verified_at, operator)

    def latest(self, person_id: str) -> ProofingRecord | None:
        query = (
            select(_RECORDS).where(_RECORDS.c.person_id == person_id)
            .order_by(_RECORDS.c.verified_at.desc(), _RECORDS.c.id.desc()).limit(1)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        verified_at: datetime = row["verified_at"]
        # SQLite hands back naive datetimes; every stored time is UTC.
        if verified_at.tzinfo is None:
            verified_at = verified_at.replace(tzinfo=UTC)
        return ProofingRecord(
            id=row["id"], person_id=row["person_id"], tier=row["tier"], method=row["method"],
            trust_framework=row["trust_framework"], evidence=row["evidence"], verified_at=verified_at,
            operator=row["operator"],
        )
