"""Durable storage of legal entities and of the representations of people who act for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class EntityRow(Base):
    __tablename__ = "legal_entities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    national_id: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    min_level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RepresentationRow(Base):
    """A person's mandate for an entity. Never deleted: revocation keeps the record of who could act."""

    __tablename__ = "representations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(64), ForeignKey("legal_entities.id"), index=True)
    national_code: Mapped[str] = mapped_column(String(10), index=True)
    role: Mapped[str] = mapped_column(String(64))
    powers: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    # The grantor's national code (delegations, indexed for "what have I delegated") or operator's name.
    granted_by: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The grantor's representation, for delegations: revoking it revokes this one.
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
