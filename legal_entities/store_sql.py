"""Durable storage of legal entities and of the representations of people who act for them: the SQL
implementation of `legal_entities.store.LegalEntitiesStore`, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    RowMapping,
    String,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from legal_entities.models import Entity, EntityStatus, Mandate, Representation, Revoked, Source


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


_E = EntityRow.__table__
_R = RepresentationRow.__table__
# Ids per statement in bulk reads and writes: far below any database's limit on bound values.
CHUNK = 500

# Built once: the mandate behind an entity token is read on every refresh and introspection.
_MANDATE_COLUMNS = (*(c.label(f"e_{c.name}") for c in _E.c), *(c.label(f"r_{c.name}") for c in _R.c))
_MANDATES = select(*_MANDATE_COLUMNS).select_from(_R.join(_E, _R.c.entity_id == _E.c.id))
_NOT_ENDED = and_(_R.c.revoked_at.is_(None), or_(_R.c.valid_until.is_(None), _R.c.valid_until > bindparam("now")))
_MANDATE_BY_ID = _MANDATES.where(_R.c.id == bindparam("id"))
_MANDATES_OF = _MANDATES.where(_R.c.national_code == bindparam("code")).order_by(_E.c.name, _R.c.role, _R.c.id)
_CURRENT_MANDATES_OF = _MANDATES_OF.where(_NOT_ENDED)
_DELEGATIONS_BY = _MANDATES.where(
    _R.c.source == Source.DELEGATION.value, _R.c.granted_by == bindparam("code"), _NOT_ENDED
).order_by(_E.c.name, _R.c.created_at, _R.c.id)
_ENTITY_BY_NATIONAL_ID = select(_E).where(_E.c.national_id == bindparam("national_id"))
_ENTITY_FOR_UPDATE = _ENTITY_BY_NATIONAL_ID.with_for_update()
_REPRESENTATIONS = select(_R).where(_R.c.entity_id == bindparam("entity_id")).order_by(_R.c.created_at, _R.c.id)
_CURRENT_REPRESENTATIONS = _REPRESENTATIONS.where(_NOT_ENDED)
_OWN_UNREVOKED = (
    select(_R)
    .where(_R.c.entity_id == bindparam("entity_id"), _R.c.national_code == bindparam("code"), _R.c.revoked_at.is_(None))
    .with_for_update()
)
_UPDATE_ENTITY = (
    update(_E)
    .where(_E.c.id == bindparam("b_id"))
    .values(name=bindparam("name"), type=bindparam("type"), status=bindparam("status"),
            min_level=bindparam("min_level"), updated_at=bindparam("updated_at"))
)
_SET_PARENT = update(_R).where(_R.c.id == bindparam("b_id")).values(parent_id=bindparam("new_parent"))
_TREE_COLUMNS = (_R.c.id, _R.c.entity_id, _R.c.national_code, _R.c.role, _R.c.source, _R.c.parent_id, _R.c.revoked_at)


class SqlLegalEntitiesStore:
    """`LegalEntitiesStore` on the `legal_entities` and `representations` tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def entity(self, national_id: str) -> Entity | None:
        with self._engine.connect() as conn:
            return _SqlTransaction(conn).entity(national_id)

    def entities(self, *, status: EntityStatus | None = None, limit: int = 100, offset: int = 0) -> list[Entity]:
        query = select(_E).order_by(_E.c.name, _E.c.national_id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(_E.c.status == EntityStatus(status).value)
        with self._engine.connect() as conn:
            return [_entity(row) for row in conn.execute(query).mappings()]

    def representations(self, entity_id: str, *, include_ended: bool, now: datetime) -> list[Representation]:
        query = _REPRESENTATIONS if include_ended else _CURRENT_REPRESENTATIONS
        with self._engine.connect() as conn:
            rows = conn.execute(query, {"entity_id": entity_id, "now": now}).mappings()
            return [_representation(row) for row in rows]

    def mandates_of(self, national_code: str, *, include_ended: bool, now: datetime) -> list[Mandate]:
        query = _MANDATES_OF if include_ended else _CURRENT_MANDATES_OF
        with self._engine.connect() as conn:
            rows = conn.execute(query, {"code": national_code, "now": now}).mappings()
            return [_mandate(row) for row in rows]

    def mandate(self, representation_id: str) -> Mandate | None:
        with self._engine.connect() as conn:
            return _SqlTransaction(conn).mandate(representation_id)

    def delegations_by(self, national_code: str, *, now: datetime) -> list[Mandate]:
        with self._engine.connect() as conn:
            rows = conn.execute(_DELEGATIONS_BY, {"code": national_code, "now": now}).mappings()
            return [_mandate(row) for row in rows]

    @contextmanager
    def transaction(self) -> Iterator[_SqlTransaction]:
        with self._engine.begin() as conn:
            yield _SqlTransaction(conn)


class _SqlTransaction:
    """`EntitiesTransaction` on one connection inside `Engine.begin()`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def entity(self, national_id: str, *, for_update: bool = False) -> Entity | None:
        query = _ENTITY_FOR_UPDATE if for_update else _ENTITY_BY_NATIONAL_ID
        row = self._conn.execute(query, {"national_id": national_id}).mappings().first()
        return _entity(row) if row is not None else None

    def entities_by_national_id(self, national_ids: Sequence[str]) -> list[Entity]:
        return [
            _entity(row)
            for chunk in _chunks(national_ids)
            for row in self._conn.execute(select(_E).where(_E.c.national_id.in_(chunk))).mappings()
        ]

    def mandate(self, representation_id: str) -> Mandate | None:
        row = self._conn.execute(_MANDATE_BY_ID, {"id": representation_id}).mappings().first()
        return _mandate(row) if row is not None else None

    def unrevoked_representations(self, entity_id: str, national_code: str) -> list[Representation]:
        rows = self._conn.execute(_OWN_UNREVOKED, {"entity_id": entity_id, "code": national_code}).mappings()
        return [_representation(row) for row in rows]

    def current_representations(self, entity_ids: Sequence[str], source: Source, now: datetime) -> list[Representation]:
        found: list[Representation] = []
        for chunk in _chunks(entity_ids):
            query = select(_R).where(_R.c.entity_id.in_(chunk), _R.c.source == source.value, _NOT_ENDED)
            found.extend(_representation(row) for row in self._conn.execute(query, {"now": now}).mappings())
        return sorted(found, key=lambda rep: (rep.created_at, rep.id))

    def unrevoked_delegations_of(self, parent_ids: Sequence[str]) -> list[Representation]:
        found: list[Representation] = []
        for chunk in _chunks(parent_ids):
            query = select(_R).where(_R.c.parent_id.in_(chunk), _R.c.revoked_at.is_(None)).with_for_update()
            found.extend(_representation(row) for row in self._conn.execute(query).mappings())
        return found

    def insert_entities(self, entities: Sequence[Entity]) -> None:
        if entities:
            self._conn.execute(insert(_E), [_entity_values(e) for e in entities])

    def update_entities(self, entities: Sequence[Entity]) -> None:
        if entities:
            self._conn.execute(_UPDATE_ENTITY, [{**_entity_values(e), "b_id": e.id} for e in entities])

    def insert_representations(self, representations: Sequence[Representation]) -> None:
        if representations:
            self._conn.execute(insert(_R), [_representation_values(rep) for rep in representations])

    def set_parents(self, parents: Mapping[str, str]) -> None:
        if parents:
            moves = [{"b_id": child, "new_parent": parent} for child, parent in parents.items()]
            self._conn.execute(_SET_PARENT, moves)

    def revoke_trees(self, root_ids: Sequence[str], *, now: datetime, actor: str, reason: str) -> list[Revoked]:
        # Rows are locked (on PostgreSQL) as they are read, so a delegation made concurrently from one
        # of them either is seen here or sees it revoked.
        conn = self._conn
        ended: list[Revoked] = []
        frontier: list[str] = []
        for chunk in _chunks(list(dict.fromkeys(root_ids))):
            query = select(*_TREE_COLUMNS).where(_R.c.id.in_(chunk), _R.c.revoked_at.is_(None)).with_for_update()
            for row in conn.execute(query).mappings():
                ended.append(_revoked(row, root=row["id"]))
                frontier.append(row["id"])
        root_of = {e.id: e.id for e in ended}
        while frontier:
            next_frontier: list[str] = []
            for chunk in _chunks(frontier):
                query = select(*_TREE_COLUMNS).where(_R.c.parent_id.in_(chunk)).with_for_update()
                for row in conn.execute(query).mappings():
                    if row["id"] in root_of:
                        continue
                    root_of[row["id"]] = root_of[row["parent_id"]]
                    next_frontier.append(row["id"])
                    if row["revoked_at"] is None:
                        ended.append(_revoked(row, root=root_of[row["id"]]))
            frontier = next_frontier
        for chunk in _chunks([e.id for e in ended]):
            conn.execute(
                update(_R)
                .where(_R.c.id.in_(chunk), _R.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=actor, revoke_reason=reason)
            )
        return ended


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Rows ------------------------------------------------------------------------------------------------


def _stored_time(moment: datetime) -> datetime:
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_time(moment: datetime | None) -> datetime | None:
    return _stored_time(moment) if moment is not None else None


def _entity(r: RowMapping, p: str = "") -> Entity:
    return Entity(
        id=r[f"{p}id"], national_id=r[f"{p}national_id"], name=r[f"{p}name"], type=r[f"{p}type"],
        status=EntityStatus(r[f"{p}status"]), min_level=r[f"{p}min_level"],
        created_at=_stored_time(r[f"{p}created_at"]), updated_at=_stored_time(r[f"{p}updated_at"]),
    )


def _representation(r: RowMapping, p: str = "") -> Representation:
    return Representation(
        id=r[f"{p}id"], entity_id=r[f"{p}entity_id"], national_code=r[f"{p}national_code"], role=r[f"{p}role"],
        powers=frozenset(r[f"{p}powers"]), valid_from=_stored_time(r[f"{p}valid_from"]),
        valid_until=_optional_time(r[f"{p}valid_until"]), source=Source(r[f"{p}source"]),
        granted_by=r[f"{p}granted_by"], parent_id=r[f"{p}parent_id"], created_at=_stored_time(r[f"{p}created_at"]),
        revoked_at=_optional_time(r[f"{p}revoked_at"]),
    )


def _mandate(r: RowMapping) -> Mandate:
    return Mandate(entity=_entity(r, "e_"), representation=_representation(r, "r_"))


def _revoked(r: RowMapping, *, root: str) -> Revoked:
    return Revoked(r["id"], r["entity_id"], r["national_code"], r["role"], r["source"], root)


def _entity_values(e: Entity) -> dict[str, object]:
    return {
        "id": e.id, "national_id": e.national_id, "name": e.name, "type": e.type, "status": e.status.value,
        "min_level": e.min_level, "created_at": e.created_at, "updated_at": e.updated_at,
    }


def _representation_values(rep: Representation) -> dict[str, object]:
    return {
        "id": rep.id, "entity_id": rep.entity_id, "national_code": rep.national_code, "role": rep.role,
        "powers": sorted(rep.powers), "valid_from": rep.valid_from, "valid_until": rep.valid_until,
        "source": rep.source.value, "granted_by": rep.granted_by, "parent_id": rep.parent_id,
        "created_at": rep.created_at, "revoked_at": rep.revoked_at, "revoked_by": None, "revoke_reason": None,
    }
