"""Bringing stored entities and their registered officers in line with a companies-registry export.

Each record's officers are the entity's complete current list: registry representations no longer
listed end (with the delegations made from them), changed ones are ended and replaced, unchanged
ones are left alone, so importing the same export twice changes nothing. Work is done in batches of
`IMPORT_BATCH` entities, each with bulk reads of what is stored and bulk writes of the differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from legal_entities import audit
from legal_entities.models import (
    Entity,
    ImportReport,
    RegistryEntity,
    RegistryOfficer,
    Representation,
    Source,
    new_entity_id,
    new_representation,
)
from legal_entities.rules import fits_within
from legal_entities.store import EntitiesTransaction

REGISTRY_REASON = "registry"
# Entities per round of bulk reads and writes: large enough that tens of thousands of entities take
# a few hundred statements, small enough to keep each round's memory and statements modest.
IMPORT_BATCH = 500


def import_records(
    tx: EntitiesTransaction, records: Sequence[RegistryEntity], *, now: datetime, actor: str,
    report: ImportReport, events: list[audit.Event],
) -> None:
    """Apply checked `records` inside `tx`, counting in `report` and collecting audit `events`."""
    checked = [(record, current_officers(record, now)) for record in records]
    for start in range(0, len(checked), IMPORT_BATCH):
        _Batch(tx, now, actor, report, events).run(checked[start : start + IMPORT_BATCH])


def skipped_officers(records: Sequence[RegistryEntity], now: datetime) -> list[str]:
    """Officers listed with a term that has already ended: nothing to import, but worth telling."""
    return [
        f"{record.national_id}: {officer.role} {officer.national_code} not imported, their term has ended"
        for record in records for officer in record.officers
        if officer.valid_until is not None and officer.valid_until <= now
    ]


def current_officers(record: RegistryEntity, now: datetime) -> tuple[RegistryOfficer, ...]:
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


def matches(rep: Representation, officer: RegistryOfficer) -> bool:
    """True if the stored representation already says what the registry says of the officer.

    An officer listed without a start has the start of the import that first added them.
    """
    return (
        rep.powers == officer.powers
        and rep.valid_until == officer.valid_until
        and (officer.valid_from is None or rep.valid_from == officer.valid_from)
    )


class _Batch:
    """One batch of an import: bulk reads of what is stored, then bulk writes of the differences."""

    def __init__(
        self, tx: EntitiesTransaction, now: datetime, actor: str, report: ImportReport, events: list[audit.Event]
    ) -> None:
        self._tx = tx
        self._now = now
        self._actor = actor
        self._report = report
        self._changes: list[str] = report.changes if report.changes is not None else []
        self._events = events
        self._new_entities: list[Entity] = []
        self._changed_entities: list[Entity] = []
        self._new_representations: list[Representation] = []
        self._to_end: list[str] = []
        self._replaced: set[str] = set()  # ended because the officer's mandate changed: reported as "changed"
        self._successor: dict[str, Representation] = {}  # replaced representation id -> the new one

    def run(self, batch: Sequence[tuple[RegistryEntity, tuple[RegistryOfficer, ...]]]) -> None:
        stored = {e.national_id: e for e in self._tx.entities_by_national_id([r.national_id for r, _ in batch])}
        officers_of: dict[str, dict[tuple[str, str], list[Representation]]] = {}
        if stored:
            ids = [e.id for e in stored.values()]
            for rep in self._tx.current_representations(ids, Source.REGISTRY, self._now):
                officers_of.setdefault(rep.entity_id, {}).setdefault((rep.national_code, rep.role), []).append(rep)
        for record, officers in batch:
            entity = self._entity(record, stored.get(record.national_id))
            self._officers(entity, officers, officers_of.get(entity.id, {}))
        self._write({e.id: e.national_id for e in stored.values()})

    def _entity(self, record: RegistryEntity, before: Entity | None) -> Entity:
        nid = record.national_id
        if before is None:
            entity = Entity(
                id=new_entity_id(), national_id=nid, name=record.name, type=record.type, status=record.status,
                min_level=record.min_level if record.min_level is not None else 1,
                created_at=self._now, updated_at=self._now,
            )
            self._new_entities.append(entity)
            self._report.entities_created += 1
            self._changes.append(f"{nid} {entity.name}: created")
            self._events.append(audit.entity_created(entity, self._actor))
            return entity
        after = replace(
            before, name=record.name, type=record.type, status=record.status,
            min_level=record.min_level if record.min_level is not None else before.min_level,
        )
        if after == before:
            self._report.entities_unchanged += 1
            return before
        after = replace(after, updated_at=self._now)
        self._changed_entities.append(after)
        self._report.entities_updated += 1
        fields = [f for f in ("name", "type", "min_level") if getattr(before, f) != getattr(after, f)]
        for f in fields:
            self._changes.append(f"{nid}: {f} changed from {getattr(before, f)!r} to {getattr(after, f)!r}")
        if fields:
            self._events.append(audit.entity_updated(nid, fields, self._actor))
        if before.status is not after.status:
            self._changes.append(f"{nid}: status changed from {before.status.value} to {after.status.value}")
            self._events.append(audit.status_changed(before, after, self._actor))
        return after

    def _officers(
        self, entity: Entity, officers: tuple[RegistryOfficer, ...],
        stored: Mapping[tuple[str, str], list[Representation]],
    ) -> None:
        nid = entity.national_id
        listed = set()
        for officer in officers:
            key = (officer.national_code, officer.role)
            listed.add(key)
            olds = list(stored.get(key, ()))
            same = next((rep for rep in olds if matches(rep, officer)), None)
            if same is not None:
                olds.remove(same)
                self._report.representations_unchanged += 1
            self._to_end.extend(rep.id for rep in olds)
            if same is None:
                self._replaced.update(rep.id for rep in olds)
                rep = new_representation(
                    entity.id, officer.national_code, officer.role, officer.powers,
                    officer.valid_from if officer.valid_from is not None else self._now, officer.valid_until,
                    Source.REGISTRY, now=self._now,
                )
                self._new_representations.append(rep)
                self._successor.update((old.id, rep) for old in olds)
                self._report.representations_added += 1
                self._changes.append(f"{nid}: {officer.role} {officer.national_code} {'changed' if olds else 'added'}")
                self._events.append(audit.granted(rep, nid, by=self._actor))
        for key, reps in stored.items():
            if key not in listed:
                self._to_end.extend(rep.id for rep in reps)

    def _write(self, national_ids: Mapping[str, str]) -> None:
        self._tx.insert_entities(self._new_entities)
        self._tx.update_entities(self._changed_entities)
        self._tx.insert_representations(self._new_representations)
        if self._successor:
            self._keep_delegations(national_ids)
        if self._to_end:
            ended = self._tx.revoke_trees(self._to_end, now=self._now, actor=self._actor, reason=REGISTRY_REASON)
            for e in ended:
                nid = national_ids[e.entity_id]
                self._report.representations_ended += 1
                if e.id in self._replaced:
                    pass  # already reported as "changed"
                elif e.id == e.root:
                    self._changes.append(f"{nid}: {e.role} {e.national_code} ended")
                else:
                    self._changes.append(f"{nid}: {e.role} {e.national_code} ended with the mandate of its grantor")
                self._events.append(audit.revoked(e, nid, self._actor, REGISTRY_REASON))

    def _keep_delegations(self, national_ids: Mapping[str, str]) -> None:
        """A renewed officer's mandate (new term or powers) takes over the delegations made under the
        old one that it still covers; the others end with the old mandate. Without this, every yearly
        renewal of a chief executive would end every employee's mandate."""
        moved: dict[str, str] = {}
        for delegation in self._tx.unrevoked_delegations_of(list(self._successor)):
            successor = self._successor[str(delegation.parent_id)]
            if fits_within(delegation, successor):
                moved[delegation.id] = successor.id
                nid = national_ids.get(successor.entity_id, successor.entity_id)
                self._changes.append(
                    f"{nid}: {delegation.role} {delegation.national_code} kept under the renewed mandate")
                self._events.append(audit.reparented(delegation, successor.id, nid, self._actor))
        self._tx.set_parents(moved)
