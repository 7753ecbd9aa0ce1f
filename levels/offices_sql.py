"""Durable offices, operators and operator actions: the `offices`, `office_operators` and
`office_actions` tables and an `OfficeStore` on them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from levels.offices import (
    DailyLimitReached,
    Office,
    OfficeAction,
    OfficeExists,
    Operator,
    OperatorExists,
    UnknownOffice,
)
from levels.store_sql import Base


class OfficeRow(Base):
    __tablename__ = "offices"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_fa: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    province: Mapped[str] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(Boolean)


class OfficeOperatorRow(Base):
    __tablename__ = "office_operators"

    # One office per operator: the console acts for exactly one office.
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    office_code: Mapped[str] = mapped_column(ForeignKey("offices.code", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OfficeActionRow(Base):
    __tablename__ = "office_actions"
    __table_args__ = (Index("ix_office_actions_operator_at", "operator_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    office_code: Mapped[str] = mapped_column(String(32))
    # No foreign keys: an operator's history outlives their removal, and the office's.
    operator_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


_OFFICES = cast(Table, OfficeRow.__table__)
_OPERATORS = cast(Table, OfficeOperatorRow.__table__)
_ACTIONS = cast(Table, OfficeActionRow.__table__)


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _office(row: object) -> Office:
    r = cast(dict[str, object], row)
    return Office(str(r["code"]), str(r["name_fa"]), str(r["name_en"]), str(r["province"]), bool(r["active"]))


class SqlOfficeStore:
    """An `OfficeStore` on the database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, office: Office) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(_OFFICES).values(code=office.code, name_fa=office.name_fa, name_en=office.name_en,
                                                     province=office.province, active=office.active))
        except IntegrityError:
            raise OfficeExists(office.code) from None

    def get(self, code: str) -> Office | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_OFFICES).where(_OFFICES.c.code == code)).mappings().first()
        return _office(dict(row)) if row is not None else None

    def all(self) -> list[Office]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_OFFICES).order_by(_OFFICES.c.province, _OFFICES.c.code)).mappings().all()
        return [_office(dict(r)) for r in rows]

    def set_active(self, code: str, active: bool) -> None:
        with self._engine.begin() as conn:
            if conn.execute(update(_OFFICES).where(_OFFICES.c.code == code).values(active=active)).rowcount == 0:
                raise UnknownOffice(code)

    def add_operator(self, operator: Operator) -> None:
        with self._engine.begin() as conn:
            if conn.execute(select(_OPERATORS.c.person_id).where(
                    _OPERATORS.c.person_id == operator.person_id)).first() is not None:
                raise OperatorExists(operator.person_id)
            try:
                conn.execute(insert(_OPERATORS).values(person_id=operator.person_id, office_code=operator.office_code,
                                                       added_at=operator.added_at.astimezone(UTC)))
            except IntegrityError:
                raise OperatorExists(operator.person_id) from None

    def operator(self, person_id: str) -> Operator | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_OPERATORS).where(_OPERATORS.c.person_id == person_id)).mappings().first()
        return Operator(row["person_id"], row["office_code"], _utc(row["added_at"])) if row is not None else None

    def operators(self, office_code: str | None = None) -> list[Operator]:
        query = select(_OPERATORS).order_by(_OPERATORS.c.office_code, _OPERATORS.c.added_at)
        if office_code is not None:
            query = query.where(_OPERATORS.c.office_code == office_code)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Operator(r["person_id"], r["office_code"], _utc(r["added_at"])) for r in rows]

    def remove_operator(self, person_id: str) -> bool:
        with self._engine.begin() as conn:
            return conn.execute(delete(_OPERATORS).where(_OPERATORS.c.person_id == person_id)).rowcount > 0

    def record(self, action: OfficeAction, *, limit: int, day_start: datetime) -> None:
        """One INSERT ... SELECT whose WHERE counts the day's actions, so the count and the insert are
        one statement: SQLite runs a writing statement under its single write lock from its first
        step, so no other connection's insert can come between. PostgreSQL's READ COMMITTED would
        still let two such statements count the same rows, so the operator's row is locked first
        (`FOR UPDATE`): the operator's concurrent requests queue there, and each counts after the one
        before it committed. An operator removed meanwhile has no row to lock, but no console either."""
        since = day_start.astimezone(UTC)
        done_today = (select(func.count()).select_from(_ACTIONS)
                      .where(_ACTIONS.c.operator_id == action.operator_id, _ACTIONS.c.at >= since)
                      .scalar_subquery())
        row = select(
            literal(action.at.astimezone(UTC), DateTime(timezone=True)), literal(action.office_code, String()),
            literal(action.operator_id, String()), literal(action.action, String()),
            literal(action.person_id, String()),
        ).where(done_today < limit)
        with self._engine.begin() as conn:
            if conn.dialect.name != "sqlite":
                conn.execute(select(_OPERATORS.c.person_id)
                             .where(_OPERATORS.c.person_id == action.operator_id).with_for_update())
            # RETURNING rather than rowcount, which drivers report differently for INSERT ... SELECT.
            stored = conn.execute(insert(_ACTIONS).from_select(
                ["at", "office_code", "operator_id", "action", "person_id"], row).returning(_ACTIONS.c.id)).first()
        if stored is None:
            raise DailyLimitReached(action.operator_id)

    def actions(self, operator_id: str, limit: int = 50) -> list[OfficeAction]:
        query = (select(_ACTIONS).where(_ACTIONS.c.operator_id == operator_id)
                 .order_by(_ACTIONS.c.at.desc(), _ACTIONS.c.id.desc()).limit(limit))
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [OfficeAction(_utc(r["at"]), r["office_code"], r["operator_id"], r["action"], r["person_id"])
                for r in rows]
