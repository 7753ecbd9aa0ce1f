"""The legal-entities service: who may act for which entity, changed only with validation and auditing.

Every write runs in one transaction and is audited after it commits. Audit details name entities
(their public national ID) and representations (their ids), never a person's national code: the
audit log is read by more people than the representations table.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, RowMapping, and_, bindparam, insert, or_, select, update

from legal_entities.errors import EntitiesError
from legal_entities.models import (
    ALL_POWERS,
    DELEGATE,
    Entity,
    EntityStatus,
    ImportReport,
    Mandate,
    RegistryEntity,
    RegistryOfficer,
    Representation,
    Source,
)
from legal_entities.national_id import is_valid_national_id
from legal_entities.rules import (
    MAX_ROLE_LENGTH,
    DelegationRefused,
    check_delegation,
    fits_within,
    invalid_powers,
    is_role,
    may_act,
)
from legal_entities.store_sql import EntityRow, RepresentationRow
from levels.national_code import InvalidNationalCode, is_valid_national_code

__all__ = [
    "Audit",
    "DelegationRefused",
    "InvalidRegistryRecord",
    "InvalidRepresentation",
    "LegalEntities",
    "UnknownEntity",
    "UnknownRepresentation",
]

Audit = Callable[[str, Mapping[str, object]], None]
Clock = Callable[[], datetime]

MIN_LEVELS = range(1, 4)
MAX_NAME = 300
MAX_TYPE = 64
MAX_ACTOR = 64
MAX_REASON = 200
REGISTRY_REASON = "registry"
# Entities per round of bulk reads and writes in an import: large enough that tens of thousands of
# entities take a few hundred statements, small enough for any database's limit on bound values.
IMPORT_BATCH = 500


class UnknownEntity(EntitiesError, LookupError):
    """No legal entity is stored under this national ID."""


class UnknownRepresentation(EntitiesError, LookupError):
    """No representation is stored under this id."""


class InvalidRepresentation(EntitiesError, ValueError):
    """A role, a set of powers, a validity window or an actor that cannot be stored; the message says why."""


class InvalidRegistryRecord(EntitiesError, ValueError):
    """A record of a registry import breaks a rule; nothing of the import was stored."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


_E = EntityRow.__table__
_R = RepresentationRow.__table__

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
# Locked on PostgreSQL so a delegation and a revocation of its grantor cannot interleave.
_OWN_UNREVOKED = (
    select(_R)
    .where(_R.c.entity_id == bindparam("entity_id"), _R.c.national_code == bindparam("code"), _R.c.revoked_at.is_(None))
    .with_for_update()
)
_TREE_COLUMNS = (_R.c.id, _R.c.entity_id, _R.c.national_code, _R.c.role, _R.c.source, _R.c.parent_id, _R.c.revoked_at)


@dataclass(frozen=True, slots=True)
class _Ended:
    """A representation a revocation ended, and the one whose revocation ended it (itself for a root)."""

    id: str
    entity_id: str
    national_code: str
    role: str
    source: str
    root: str


class LegalEntities:
    """Legal entities and their representations, stored in the `legal_entities` and `representations` tables."""

    def __init__(self, engine: Engine, audit: Audit, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self._engine = engine
        self._audit = audit
        self._clock = clock

    # Reads ---------------------------------------------------------------------------------------

    def entity(self, national_id: str) -> Entity | None:
        """The entity with this eleven-digit national ID, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(_ENTITY_BY_NATIONAL_ID, {"national_id": national_id}).mappings().first()
        return _entity(row) if row is not None else None

    def entities(self, *, status: EntityStatus | None = None, limit: int = 100, offset: int = 0) -> list[Entity]:
        """Entities ordered by name (then national ID), optionally only those with `status`."""
        query = select(_E).order_by(_E.c.name, _E.c.national_id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(_E.c.status == EntityStatus(status).value)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_entity(row) for row in rows]

    def representations(self, entity_id: str, *, include_ended: bool = False) -> list[Representation]:
        """The entity's representations in the order they were made; ended ones (revoked or past
        their validity) only if `include_ended`. `entity_id` is `Entity.id`, not the national ID."""
        query = _REPRESENTATIONS if include_ended else _CURRENT_REPRESENTATIONS
        with self._engine.connect() as conn:
            rows = conn.execute(query, {"entity_id": entity_id, "now": self._now()}).mappings().all()
        return [_representation(row) for row in rows]

    def mandates_of(self, national_code: str, *, include_ended: bool = False) -> list[Mandate]:
        """Every entity the person represents, by entity name; ended ones only if `include_ended`.

        Mandates of suspended or dissolved entities, and those not yet started, are included: callers
        decide with `rules.may_act`, and can then tell the person why they cannot act.
        """
        query = _MANDATES_OF if include_ended else _CURRENT_MANDATES_OF
        with self._engine.connect() as conn:
            rows = conn.execute(query, {"code": national_code, "now": self._now()}).mappings().all()
        return [_mandate(row) for row in rows]

    def mandate(self, representation_id: str) -> Mandate | None:
        """The representation with this id and its entity, ended or not (one query), or None."""
        with self._engine.connect() as conn:
            row = conn.execute(_MANDATE_BY_ID, {"id": representation_id}).mappings().first()
        return _mandate(row) if row is not None else None

    def delegations_by(self, national_code: str) -> list[Mandate]:
        """The delegations this person made that have not ended, by entity name then age."""
        with self._engine.connect() as conn:
            rows = conn.execute(_DELEGATIONS_BY, {"code": national_code, "now": self._now()}).mappings().all()
        return [_mandate(row) for row in rows]

    # Entities ------------------------------------------------------------------------------------

    def set_status(self, national_id: str, status: EntityStatus, *, actor: str) -> Entity:
        """Set the entity's status; no one can act for a suspended or dissolved entity, whatever their
        mandate. Raises `UnknownEntity`; audits `entity.status_changed` if the status changed."""
        status = EntityStatus(status)
        _check_actor(actor)
        before, after = self._change_entity(national_id, status=status)
        if before.status is not after.status:
            self._audit(
                "entity.status_changed",
                {
                    "national_id": national_id,
                    "from": before.status.value,
                    "to": after.status.value,
                    "by": actor,
                },
            )
        return after

    def set_min_level(self, national_id: str, level: int, *, actor: str) -> Entity:
        """Set the assurance level (1-3) a person needs to act for the entity.

        Raises `UnknownEntity`, or ValueError for another level; audits `entity.min_level_changed`.
        """
        if isinstance(level, bool) or not isinstance(level, int) or level not in MIN_LEVELS:
            raise ValueError(f"The minimum level must be 1, 2 or 3, not {level!r}.")
        _check_actor(actor)
        before, after = self._change_entity(national_id, min_level=level)
        if before.min_level != after.min_level:
            self._audit(
                "entity.min_level_changed",
                {
                    "national_id": national_id,
                    "from": before.min_level,
                    "to": after.min_level,
                    "by": actor,
                },
            )
        return after

    def _change_entity(self, national_id: str, **values: object) -> tuple[Entity, Entity]:
        now = self._now()
        with self._engine.begin() as conn:
            row = conn.execute(_ENTITY_FOR_UPDATE, {"national_id": national_id}).mappings().first()
            if row is None:
                raise UnknownEntity(national_id)
            before = _entity(row)
            after = replace(before, **values)  # type: ignore[arg-type]
            if after == before:
                return before, before
            after = replace(after, updated_at=now)
            conn.execute(
                update(_E)
                .where(_E.c.id == before.id)
                .values(
                    status=after.status.value,
                    min_level=after.min_level,
                    updated_at=now,
                )
            )
        return before, after

    # Representations -----------------------------------------------------------------------------

    def grant(
        self,
        national_id: str,
        national_code: str,
        *,
        role: str,
        powers: Iterable[str],
        valid_until: datetime | None = None,
        valid_from: datetime | None = None,
        operator: str,
    ) -> Representation:
        """Record, on documents an operator has seen, that the person represents the entity.

        Raises `UnknownEntity`, `InvalidNationalCode`, or `InvalidRepresentation` for a bad role,
        powers, validity window or operator name. Audits `representation.granted`.
        """
        if not is_valid_national_code(national_code):
            raise InvalidNationalCode("This is not a valid national code.")
        _check_role(role)
        power_set = _check_powers(powers)
        _check_actor(operator, "operator")
        now = self._now()
        start = _utc(valid_from, "valid_from") if valid_from is not None else now
        end = _utc(valid_until, "valid_until") if valid_until is not None else None
        if end is not None and end <= start:
            raise InvalidRepresentation("A representation must end after it starts.")
        if end is not None and end <= now:
            raise InvalidRepresentation("A representation must end in the future.")
        with self._engine.begin() as conn:
            entity = self._require_entity(conn, national_id)
            rep = _new_representation(entity.id, national_code, role, power_set, start, end, Source.OPERATOR,
                                      granted_by=operator, now=now)
            conn.execute(insert(_R), [_representation_values(rep)])
        self._audit("representation.granted", _granted_detail(rep, national_id, by=operator))
        return rep

    def delegate(
        self,
        national_id: str,
        *,
        by: str,
        to: str,
        role: str,
        powers: Iterable[str],
        valid_until: datetime | None,
        valid_from: datetime | None = None,
    ) -> Representation:
        """Let `by` (a national code) grant `to` some of their own powers for the entity.

        Of `by`'s representations of the entity, the first that allows it is the grantor (one holding
        every power preferred); the delegation ends when that one is revoked. Raises `UnknownEntity`,
        `InvalidNationalCode`, `InvalidRepresentation` for a bad role, or `DelegationRefused` with the
        reason of the representation that came closest. Audits `representation.granted` with the
        grantor's representation as `parent_id` (not their national code).
        """
        if not is_valid_national_code(to):
            raise InvalidNationalCode("This is not a valid national code.")
        _check_role(role)
        if isinstance(powers, str):
            raise InvalidRepresentation("powers must be a collection of powers, not one string.")
        power_set = frozenset(powers)
        now = self._now()
        start = _utc(valid_from, "valid_from") if valid_from is not None else now
        end = _utc(valid_until, "valid_until") if valid_until is not None else None
        with self._engine.begin() as conn:
            entity = self._require_entity(conn, national_id)
            rows = conn.execute(_OWN_UNREVOKED, {"entity_id": entity.id, "code": by}).mappings().all()
            candidates = sorted((Mandate(entity, _representation(row)) for row in rows), key=_grantor_order(now))
            if not candidates:
                raise DelegationRefused("You do not represent %(name)s.", name=entity.name)
            refusals: list[DelegationRefused] = []
            for grantor in candidates:
                try:
                    check_delegation(grantor, to, power_set, start, end, now)
                except DelegationRefused as exc:
                    refusals.append(exc)
                    continue
                break
            else:
                raise refusals[0]
            rep = _new_representation(entity.id, to, role, power_set, start, end, Source.DELEGATION, granted_by=by,
                                      parent_id=grantor.representation.id, now=now)
            conn.execute(insert(_R), [_representation_values(rep)])
        self._audit("representation.granted", _granted_detail(rep, national_id))
        return rep

    def revoke(self, representation_id: str, *, actor: str, reason: str) -> list[str]:
        """End the representation now, with every delegation made from it, and from those, and so on.

        Returns the ids revoked, the given one first; [] if it was already revoked. `actor` is who
        revoked it (an operator's name, or a person's id: never a national code). Raises
        `UnknownRepresentation`; audits `representation.revoked` for each.
        """
        _check_actor(actor)
        _check_reason(reason)
        now = self._now()
        with self._engine.begin() as conn:
            row = conn.execute(_MANDATE_BY_ID, {"id": representation_id}).mappings().first()
            if row is None:
                raise UnknownRepresentation(representation_id)
            national_id = row["e_national_id"]
            ended = _revoke_trees(conn, [representation_id], now=now, actor=actor, reason=reason)
        for e in ended:
            self._audit("representation.revoked", _revoked_detail(e, national_id, actor, reason))
        return [e.id for e in ended]

    # Registry import -----------------------------------------------------------------------------

    def import_registry(self, records: Sequence[RegistryEntity], *, actor: str) -> ImportReport:
        """Bring entities and their registered officers in line with a companies-registry export.

        All or nothing: every record is checked first (`InvalidRegistryRecord` names the line), then
        everything is written in one transaction. Each record's officers are the entity's complete
        current list: registry representations no longer listed end (with the delegations made from
        them), changed ones are ended and replaced, unchanged ones are left alone, so importing the
        same export twice changes nothing. Officers whose validity has already ended are not current
        and are treated as not listed. Representations granted by operators or by delegation are not
        the registry's and are kept.
        """
        _check_actor(actor)
        now = self._now()
        checked = [(record, _current_officers(record, now)) for record in _checked_records(records)]
        report = ImportReport(changes=[], skipped=[
            f"{record.national_id}: {officer.role} {officer.national_code} not imported, their term has ended"
            for record in records for officer in record.officers
            if officer.valid_until is not None and officer.valid_until <= now
        ])
        events: list[tuple[str, dict[str, object]]] = []
        with self._engine.begin() as conn:
            for start in range(0, len(checked), IMPORT_BATCH):
                _Importer(conn, now, actor, report, events).run(checked[start : start + IMPORT_BATCH])
        many = getattr(self._audit, "many", None)  # an audit sink that can write a batch at once
        if many is not None:
            many(events)
        else:
            for kind, detail in events:
                self._audit(kind, detail)
        self._audit(
            "legal_entities.imported",
            {
                "entities_created": report.entities_created,
                "entities_updated": report.entities_updated,
                "entities_unchanged": report.entities_unchanged,
                "representations_added": report.representations_added,
                "representations_ended": report.representations_ended,
                "representations_unchanged": report.representations_unchanged,
                "by": actor,
            },
        )
        return report

    # Helpers -------------------------------------------------------------------------------------

    def _require_entity(self, conn: Connection, national_id: str) -> Entity:
        row = conn.execute(_ENTITY_BY_NATIONAL_ID, {"national_id": national_id}).mappings().first()
        if row is None:
            raise UnknownEntity(national_id)
        return _entity(row)

    def _now(self) -> datetime:
        return _utc(self._clock(), "the clock's time")


class _Importer:
    """One batch of a registry import: bulk reads of what is stored, then bulk writes of the differences."""

    def __init__(
        self,
        conn: Connection,
        now: datetime,
        actor: str,
        report: ImportReport,
        events: list[tuple[str, dict[str, object]]],
    ) -> None:
        self._conn = conn
        self._now = now
        self._actor = actor
        self._report = report
        self._changes: list[str] = report.changes if report.changes is not None else []
        self._events = events
        self._new_entities: list[dict[str, object]] = []
        self._changed_entities: list[dict[str, object]] = []
        self._new_representations: list[Representation] = []
        self._to_end: list[str] = []
        self._replaced: set[str] = set()  # ended because the officer's mandate changed: reported as "changed"
        self._successor: dict[str, Representation] = {}  # replaced representation id -> the new one

    def run(self, batch: Sequence[tuple[RegistryEntity, tuple[RegistryOfficer, ...]]]) -> None:
        national_ids = [record.national_id for record, _ in batch]
        stored = {
            row["national_id"]: _entity(row)
            for row in self._conn.execute(select(_E).where(_E.c.national_id.in_(national_ids))).mappings()
        }
        officers_of: dict[str, dict[tuple[str, str], list[Representation]]] = {}
        if stored:
            query = (
                select(_R)
                .where(
                    _R.c.entity_id.in_([e.id for e in stored.values()]),
                    _R.c.source == Source.REGISTRY.value,
                    _NOT_ENDED,
                )
                .order_by(_R.c.created_at, _R.c.id)
            )
            for row in self._conn.execute(query, {"now": self._now}).mappings():
                rep = _representation(row)
                officers_of.setdefault(rep.entity_id, {}).setdefault((rep.national_code, rep.role), []).append(rep)
        for record, officers in batch:
            entity = self._entity(record, stored.get(record.national_id))
            self._officers(entity, officers, officers_of.get(entity.id, {}))
        self._write({e.id: e.national_id for e in stored.values()})

    def _entity(self, record: RegistryEntity, before: Entity | None) -> Entity:
        nid = record.national_id
        if before is None:
            entity = Entity(
                id=_new_entity_id(),
                national_id=nid,
                name=record.name,
                type=record.type,
                status=record.status,
                min_level=record.min_level if record.min_level is not None else 1,
                created_at=self._now,
                updated_at=self._now,
            )
            self._new_entities.append(_entity_values(entity))
            self._report.entities_created += 1
            self._changes.append(f"{nid} {entity.name}: created")
            self._events.append(
                (
                    "entity.created",
                    {
                        "national_id": nid,
                        "name": entity.name,
                        "type": entity.type,
                        "status": entity.status.value,
                        "min_level": entity.min_level,
                        "by": self._actor,
                    },
                )
            )
            return entity
        after = replace(
            before,
            name=record.name,
            type=record.type,
            status=record.status,
            min_level=record.min_level if record.min_level is not None else before.min_level,
        )
        if after == before:
            self._report.entities_unchanged += 1
            return before
        after = replace(after, updated_at=self._now)
        self._changed_entities.append(_entity_values(after))
        self._report.entities_updated += 1
        fields = [f for f in ("name", "type", "min_level") if getattr(before, f) != getattr(after, f)]
        for f in fields:
            self._changes.append(f"{nid}: {f} changed from {getattr(before, f)!r} to {getattr(after, f)!r}")
        if fields:
            self._events.append(("entity.updated", {"national_id": nid, "fields": fields, "by": self._actor}))
        if before.status is not after.status:
            self._changes.append(f"{nid}: status changed from {before.status.value} to {after.status.value}")
            self._events.append(
                (
                    "entity.status_changed",
                    {
                        "national_id": nid,
                        "from": before.status.value,
                        "to": after.status.value,
                        "by": self._actor,
                    },
                )
            )
        return after

    def _officers(
        self,
        entity: Entity,
        officers: tuple[RegistryOfficer, ...],
        stored: Mapping[tuple[str, str], list[Representation]],
    ) -> None:
        nid = entity.national_id
        listed = set()
        for officer in officers:
            key = (officer.national_code, officer.role)
            listed.add(key)
            olds = list(stored.get(key, ()))
            same = next((rep for rep in olds if _matches(rep, officer)), None)
            if same is not None:
                olds.remove(same)
                self._report.representations_unchanged += 1
            self._to_end.extend(rep.id for rep in olds)
            if same is None:
                self._replaced.update(rep.id for rep in olds)
                rep = successor = _new_representation(
                    entity.id, officer.national_code, officer.role, officer.powers,
                    officer.valid_from if officer.valid_from is not None else self._now, officer.valid_until,
                    Source.REGISTRY, now=self._now,
                )
                self._new_representations.append(rep)
                self._successor.update((old.id, successor) for old in olds)
                self._report.representations_added += 1
                self._changes.append(f"{nid}: {officer.role} {officer.national_code} {'changed' if olds else 'added'}")
                self._events.append(("representation.granted", _granted_detail(rep, nid, by=self._actor)))
        for key, reps in stored.items():
            if key not in listed:
                self._to_end.extend(rep.id for rep in reps)

    def _write(self, national_ids: Mapping[str, str]) -> None:
        conn = self._conn
        if self._new_entities:
            conn.execute(insert(_E), self._new_entities)
        if self._changed_entities:
            conn.execute(
                update(_E)
                .where(_E.c.id == bindparam("b_id"))
                .values(
                    name=bindparam("name"),
                    type=bindparam("type"),
                    status=bindparam("status"),
                    min_level=bindparam("min_level"),
                    updated_at=bindparam("updated_at"),
                ),
                [{**values, "b_id": values["id"]} for values in self._changed_entities],
            )
        if self._new_representations:
            conn.execute(insert(_R), [_representation_values(rep) for rep in self._new_representations])
        if self._successor:
            self._keep_delegations(national_ids)
        if self._to_end:
            for e in _revoke_trees(conn, self._to_end, now=self._now, actor=self._actor, reason=REGISTRY_REASON):
                nid = national_ids[e.entity_id]
                self._report.representations_ended += 1
                if e.id in self._replaced:
                    pass  # already reported as "changed"
                elif e.id == e.root:
                    self._changes.append(f"{nid}: {e.role} {e.national_code} ended")
                else:
                    self._changes.append(f"{nid}: {e.role} {e.national_code} ended with the mandate of its grantor")
                self._events.append(("representation.revoked", _revoked_detail(e, nid, self._actor, REGISTRY_REASON)))

    def _keep_delegations(self, national_ids: Mapping[str, str]) -> None:
        """A renewed officer's mandate (new term or powers) takes over the delegations made under the
        old one that it still covers; the others end with the old mandate. Without this, every yearly
        renewal of a chief executive would end every employee's mandate."""
        moved: list[dict[str, str]] = []
        for chunk in _chunks(list(self._successor)):
            query = select(_R).where(_R.c.parent_id.in_(chunk), _R.c.revoked_at.is_(None)).with_for_update()
            for row in self._conn.execute(query).mappings():
                delegation = _representation(row)
                successor = self._successor[str(delegation.parent_id)]
                if fits_within(delegation, successor):
                    moved.append({"b_id": delegation.id, "new_parent": successor.id})
                    nid = national_ids.get(successor.entity_id, successor.entity_id)
                    self._changes.append(
                        f"{nid}: {delegation.role} {delegation.national_code} kept under the renewed mandate"
                    )
                    self._events.append(("representation.reparented", {
                        "representation_id": delegation.id, "parent_id": successor.id, "national_id": nid,
                        "by": self._actor,
                    }))
        if moved:
            self._conn.execute(
                update(_R).where(_R.c.id == bindparam("b_id")).values(parent_id=bindparam("new_parent")), moved
            )


# Validation ----------------------------------------------------------------------------------------


def _check_role(role: object) -> None:
    if not is_role(role):
        raise InvalidRepresentation(
            f"A role is a lowercase code such as ceo, signatory or employee, of at most {MAX_ROLE_LENGTH} characters.")


def _check_powers(powers: Iterable[str]) -> frozenset[str]:
    if isinstance(powers, str):
        raise InvalidRepresentation("powers must be a collection of powers, not one string.")
    power_set = frozenset(powers)
    if not power_set:
        raise InvalidRepresentation("Give at least one power.")
    bad = invalid_powers(power_set)
    if bad:
        raise InvalidRepresentation(f"These are not valid powers: {', '.join(bad)}.")
    return power_set


def _check_actor(actor: object, what: str = "actor") -> None:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > MAX_ACTOR:
        raise InvalidRepresentation(f"The {what} must be named, in at most {MAX_ACTOR} characters.")


def _check_reason(reason: object) -> None:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise InvalidRepresentation(f"Give the reason, in at most {MAX_REASON} characters.")


def _checked_records(records: Sequence[RegistryEntity]) -> Sequence[RegistryEntity]:
    """Raise `InvalidRegistryRecord` for the first record that cannot be stored as it is."""
    seen: dict[str, int] = {}
    for record in records:
        line, nid = record.line, record.national_id
        if not isinstance(nid, str) or not is_valid_national_id(nid):
            raise InvalidRegistryRecord(line, f"{nid!r} is not a valid national ID of a legal entity")
        if nid in seen:
            raise InvalidRegistryRecord(line, f"national ID {nid} is listed twice (first on line {seen[nid]})")
        seen[nid] = line
        if not isinstance(record.name, str) or not record.name.strip() or len(record.name) > MAX_NAME:
            raise InvalidRegistryRecord(line, f"the name must be given, in at most {MAX_NAME} characters")
        if not isinstance(record.type, str) or not record.type.strip() or len(record.type) > MAX_TYPE:
            raise InvalidRegistryRecord(line, f"the type must be given, in at most {MAX_TYPE} characters")
        if not isinstance(record.status, EntityStatus):
            raise InvalidRegistryRecord(line, f"{record.status!r} is not a status of an entity")
        level = record.min_level
        if level is not None and (isinstance(level, bool) or not isinstance(level, int) or level not in MIN_LEVELS):
            raise InvalidRegistryRecord(line, f"the minimum level must be 1, 2 or 3, not {level!r}")
        officers: set[tuple[str, str]] = set()
        for officer in record.officers:
            who = f"officer {officer.national_code!r} ({officer.role!r})"
            if not isinstance(officer.national_code, str) or not is_valid_national_code(officer.national_code):
                raise InvalidRegistryRecord(line, f"{who}: not a valid national code")
            try:
                _check_role(officer.role)
                _check_powers(officer.powers)
            except InvalidRepresentation as exc:
                raise InvalidRegistryRecord(line, f"{who}: {exc}") from None
            if (officer.national_code, officer.role) in officers:
                raise InvalidRegistryRecord(line, f"{who} is listed twice")
            officers.add((officer.national_code, officer.role))
            for moment in (officer.valid_from, officer.valid_until):
                if moment is not None and moment.tzinfo is None:
                    raise InvalidRegistryRecord(line, f"{who}: times must be time-zone aware")
            start, end = officer.valid_from, officer.valid_until
            if start is not None and end is not None and end <= start:
                raise InvalidRegistryRecord(line, f"{who}: the mandate ends before it starts")
    return records


def _current_officers(record: RegistryEntity, now: datetime) -> tuple[RegistryOfficer, ...]:
    """The record's officers whose mandate has not ended, with times in UTC like everything stored."""
    return tuple(
        replace(
            officer,
            powers=frozenset(officer.powers),
            valid_from=officer.valid_from.astimezone(UTC) if officer.valid_from is not None else None,
            valid_until=officer.valid_until.astimezone(UTC) if officer.valid_until is not None else None,
        )
        for officer in record.officers
        if officer.valid_until is None or officer.valid_until > now
    )


def _matches(rep: Representation, officer: RegistryOfficer) -> bool:
    """True if the stored representation already says what the registry says of the officer.

    An officer listed without a start has the start of the import that first added them.
    """
    return (
        rep.powers == officer.powers
        and rep.valid_until == officer.valid_until
        and (officer.valid_from is None or rep.valid_from == officer.valid_from)
    )


def _grantor_order(now: datetime) -> Callable[[Mandate], tuple[bool, bool, bool, str]]:
    """Sort key putting first the representations most likely to allow a delegation, so that the
    grantor is one holding every power if possible, and a refusal gives the most relevant reason."""

    def key(m: Mandate) -> tuple[bool, bool, bool, str]:
        powers = m.representation.powers
        return (not may_act(m, now), DELEGATE not in powers, ALL_POWERS not in powers, m.representation.id)

    return key


# Revocation ----------------------------------------------------------------------------------------


def _chunks(items: Sequence[str], size: int = IMPORT_BATCH) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _revoke_trees(conn: Connection, root_ids: Sequence[str], *, now: datetime, actor: str, reason: str) -> list[_Ended]:
    """Revoke the unrevoked representations among `root_ids` and every unrevoked delegation below
    them; return what was revoked, roots first. Rows are locked (on PostgreSQL) as they are read, so a
    delegation made concurrently from one of them either is seen here or sees it revoked."""
    ended: list[_Ended] = []
    frontier: list[str] = []
    for chunk in _chunks(list(dict.fromkeys(root_ids))):
        query = select(*_TREE_COLUMNS).where(_R.c.id.in_(chunk), _R.c.revoked_at.is_(None)).with_for_update()
        for row in conn.execute(query).mappings():
            ended.append(
                _Ended(row["id"], row["entity_id"], row["national_code"], row["role"], row["source"], row["id"])
            )
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
                    ended.append(
                        _Ended(
                            row["id"],
                            row["entity_id"],
                            row["national_code"],
                            row["role"],
                            row["source"],
                            root_of[row["id"]],
                        )
                    )
        frontier = next_frontier
    for chunk in _chunks([e.id for e in ended]):
        conn.execute(
            update(_R)
            .where(_R.c.id.in_(chunk), _R.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor, revoke_reason=reason)
        )
    return ended


# Rows and records ----------------------------------------------------------------------------------


def _new_entity_id() -> str:
    return secrets.token_urlsafe(12)


def _new_representation(
    entity_id: str, national_code: str, role: str, powers: frozenset[str], valid_from: datetime,
    valid_until: datetime | None, source: Source, *, now: datetime, granted_by: str | None = None,
    parent_id: str | None = None,
) -> Representation:
    return Representation(
        id=_new_representation_id(), entity_id=entity_id, national_code=national_code, role=role, powers=powers,
        valid_from=valid_from, valid_until=valid_until, source=source, granted_by=granted_by, parent_id=parent_id,
        created_at=now, revoked_at=None,
    )


def _new_representation_id() -> str:
    # Short enough to read out over the phone to an operator, random enough never to collide in practice.
    return "m-" + secrets.token_hex(6)


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidRepresentation(f"{what} must be time-zone aware")
    return moment.astimezone(UTC)


def _stored_time(moment: datetime) -> datetime:
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_time(moment: datetime | None) -> datetime | None:
    return _stored_time(moment) if moment is not None else None


def _entity(r: RowMapping, p: str = "") -> Entity:
    return Entity(
        id=r[f"{p}id"],
        national_id=r[f"{p}national_id"],
        name=r[f"{p}name"],
        type=r[f"{p}type"],
        status=EntityStatus(r[f"{p}status"]),
        min_level=r[f"{p}min_level"],
        created_at=_stored_time(r[f"{p}created_at"]),
        updated_at=_stored_time(r[f"{p}updated_at"]),
    )


def _representation(r: RowMapping, p: str = "") -> Representation:
    return Representation(
        id=r[f"{p}id"],
        entity_id=r[f"{p}entity_id"],
        national_code=r[f"{p}national_code"],
        role=r[f"{p}role"],
        powers=frozenset(r[f"{p}powers"]),
        valid_from=_stored_time(r[f"{p}valid_from"]),
        valid_until=_optional_time(r[f"{p}valid_until"]),
        source=Source(r[f"{p}source"]),
        granted_by=r[f"{p}granted_by"],
        parent_id=r[f"{p}parent_id"],
        created_at=_stored_time(r[f"{p}created_at"]),
        revoked_at=_optional_time(r[f"{p}revoked_at"]),
    )


def _mandate(r: RowMapping) -> Mandate:
    return Mandate(entity=_entity(r, "e_"), representation=_representation(r, "r_"))


def _entity_values(e: Entity) -> dict[str, object]:
    return {
        "id": e.id,
        "national_id": e.national_id,
        "name": e.name,
        "type": e.type,
        "status": e.status.value,
        "min_level": e.min_level,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }


def _representation_values(rep: Representation) -> dict[str, object]:
    return {
        "id": rep.id,
        "entity_id": rep.entity_id,
        "national_code": rep.national_code,
        "role": rep.role,
        "powers": sorted(rep.powers),
        "valid_from": rep.valid_from,
        "valid_until": rep.valid_until,
        "source": rep.source.value,
        "granted_by": rep.granted_by,
        "parent_id": rep.parent_id,
        "created_at": rep.created_at,
        "revoked_at": None,
        "revoked_by": None,
        "revoke_reason": None,
    }


def _granted_detail(rep: Representation, national_id: str, *, by: str | None = None) -> dict[str, object]:
    detail: dict[str, object] = {
        "id": rep.id,
        "national_id": national_id,
        "role": rep.role,
        "powers": sorted(rep.powers),
        "source": rep.source.value,
        "valid_until": rep.valid_until.isoformat() if rep.valid_until is not None else None,
    }
    if rep.parent_id is not None:
        detail["parent_id"] = rep.parent_id
    if by is not None:
        detail["by"] = by
    return detail


def _revoked_detail(e: _Ended, national_id: str, actor: str, reason: str) -> dict[str, object]:
    detail: dict[str, object] = {
        "id": e.id,
        "national_id": national_id,
        "role": e.role,
        "source": e.source,
        "reason": reason,
        "by": actor,
    }
    if e.root != e.id:
        detail["cascade_from"] = e.root
    return detail
