"""The legal-entities service: who may act for which entity, changed only with validation and auditing.

Every write runs in one transaction of the store and is audited after it commits (see
`legal_entities.audit` for what the events say). The rules are `legal_entities.rules`, the checks of
input `legal_entities.checks`, the registry import `legal_entities.registry_import`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from legal_entities import audit
from legal_entities.audit import Audit
from legal_entities.checks import (
    check_actor,
    check_min_level,
    check_powers,
    check_reason,
    check_role,
    checked_records,
    utc,
)
from legal_entities.errors import (
    DelegationRefused,
    InvalidRegistryRecord,
    InvalidRepresentation,
    UnknownEntity,
    UnknownRepresentation,
)
from legal_entities.models import (
    Entity,
    EntityStatus,
    ImportReport,
    Mandate,
    RegistryEntity,
    Representation,
    Source,
    new_representation,
)
from legal_entities.registry_import import import_records, skipped_officers
from legal_entities.rules import can_delegate, check_delegation, grantor_order
from legal_entities.store import EntitiesTransaction, LegalEntitiesStore
from levels.clock import Clock, utcnow
from levels.iranian_input import InvalidNationalCode, is_valid_national_code

__all__ = [
    "Audit",
    "DelegationRefused",
    "InvalidRegistryRecord",
    "InvalidRepresentation",
    "LegalEntities",
    "UnknownEntity",
    "UnknownRepresentation",
]




class LegalEntities:
    """Legal entities and their representations, kept in a `LegalEntitiesStore`."""

    def __init__(self, store: LegalEntitiesStore, audit: Audit, clock: Clock = utcnow) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock

    # Reads ---------------------------------------------------------------------------------------

    def entity(self, national_id: str) -> Entity | None:
        """The entity with this eleven-digit national ID, or None."""
        return self._store.entity(national_id)

    def entities(self, *, status: EntityStatus | None = None, limit: int = 100, offset: int = 0) -> list[Entity]:
        """Entities ordered by name (then national ID), optionally only those with `status`."""
        return self._store.entities(status=status, limit=limit, offset=offset)

    def representations(self, entity_id: str, *, include_ended: bool = False) -> list[Representation]:
        """The entity's representations in the order they were made; ended ones (revoked or past
        their validity) only if `include_ended`. `entity_id` is `Entity.id`, not the national ID."""
        return self._store.representations(entity_id, include_ended=include_ended, now=self._now())

    def mandates_of(self, national_code: str, *, include_ended: bool = False) -> list[Mandate]:
        """Every entity the person represents, by entity name; ended ones only if `include_ended`.

        Mandates of suspended or dissolved entities, and those not yet started, are included: callers
        decide with `rules.may_act`, and can then tell the person why they cannot act.
        """
        return self._store.mandates_of(national_code, include_ended=include_ended, now=self._now())

    def mandate(self, representation_id: str) -> Mandate | None:
        """The representation with this id and its entity, ended or not (one query), or None."""
        return self._store.mandate(representation_id)

    def delegations_by(self, national_code: str) -> list[Mandate]:
        """The delegations this person made that have not ended, by entity name then age."""
        return self._store.delegations_by(national_code, now=self._now())

    def delegating_mandate(self, national_code: str, national_id: str) -> Mandate | None:
        """The person's mandate for the entity under which they may give mandates now, or None."""
        now = self._now()
        return next((m for m in self.mandates_of(national_code)
                     if m.entity.national_id == national_id and can_delegate(m, now)), None)

    # Entities ------------------------------------------------------------------------------------

    def set_status(self, national_id: str, status: EntityStatus, *, actor: str) -> Entity:
        """Set the entity's status; no one can act for a suspended or dissolved entity, whatever their
        mandate. Raises `UnknownEntity`; audits `entity.status_changed` if the status changed."""
        status = EntityStatus(status)
        check_actor(actor)
        before, after = self._change_entity(national_id, status=status)
        if before.status is not after.status:
            self._audit(*audit.status_changed(before, after, actor))
        return after

    def set_min_level(self, national_id: str, level: int, *, actor: str) -> Entity:
        """Set the assurance level (1-3) a person needs to act for the entity.

        Raises `UnknownEntity`, or ValueError for another level; audits `entity.min_level_changed`.
        """
        check_min_level(level)
        check_actor(actor)
        before, after = self._change_entity(national_id, min_level=level)
        if before.min_level != after.min_level:
            self._audit(*audit.min_level_changed(before, after, actor))
        return after

    def _change_entity(self, national_id: str, **values: object) -> tuple[Entity, Entity]:
        now = self._now()
        with self._store.transaction() as tx:
            before = tx.entity(national_id, for_update=True)
            if before is None:
                raise UnknownEntity(national_id)
            after = replace(before, **values)  # type: ignore[arg-type]
            if after == before:
                return before, before
            after = replace(after, updated_at=now)
            tx.update_entities([after])
        return before, after

    # Representations -----------------------------------------------------------------------------

    def grant(
        self, national_id: str, national_code: str, *, role: str, powers: Iterable[str],
        valid_until: datetime | None = None, valid_from: datetime | None = None, operator: str,
    ) -> Representation:
        """Record, on documents an operator has seen, that the person represents the entity.

        Raises `UnknownEntity`, `InvalidNationalCode`, or `InvalidRepresentation` for a bad role,
        powers, validity window or operator name. Audits `representation.granted`.
        """
        if not is_valid_national_code(national_code):
            raise InvalidNationalCode("This is not a valid national code.")
        check_role(role)
        power_set = check_powers(powers)
        check_actor(operator, "operator")
        now = self._now()
        start = utc(valid_from, "valid_from") if valid_from is not None else now
        end = utc(valid_until, "valid_until") if valid_until is not None else None
        if end is not None and end <= start:
            raise InvalidRepresentation("A representation must end after it starts.")
        if end is not None and end <= now:
            raise InvalidRepresentation("A representation must end in the future.")
        with self._store.transaction() as tx:
            entity = _require_entity(tx, national_id)
            rep = new_representation(entity.id, national_code, role, power_set, start, end, Source.OPERATOR,
                                     granted_by=operator, now=now)
            tx.insert_representations([rep])
        self._audit(*audit.granted(rep, national_id, by=operator))
        return rep

    def delegate(
        self, national_id: str, *, by: str, to: str, role: str, powers: Iterable[str],
        valid_until: datetime | None, valid_from: datetime | None = None,
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
        check_role(role)
        if isinstance(powers, str):
            raise InvalidRepresentation("powers must be a collection of powers, not one string.")
        power_set = frozenset(powers)
        now = self._now()
        start = utc(valid_from, "valid_from") if valid_from is not None else now
        end = utc(valid_until, "valid_until") if valid_until is not None else None
        with self._store.transaction() as tx:
            entity = _require_entity(tx, national_id)
            candidates = sorted((Mandate(entity, rep) for rep in tx.unrevoked_representations(entity.id, by)),
                                key=grantor_order(now))
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
            rep = new_representation(entity.id, to, role, power_set, start, end, Source.DELEGATION, granted_by=by,
                                     parent_id=grantor.representation.id, now=now)
            tx.insert_representations([rep])
        self._audit(*audit.granted(rep, national_id))
        return rep

    def revoke(self, representation_id: str, *, actor: str, reason: str) -> list[str]:
        """End the representation now, with every delegation made from it, and from those, and so on.

        Returns the ids revoked, the given one first; [] if it was already revoked. `actor` is who
        revoked it (an operator's name, or a person's id: never a national code). Raises
        `UnknownRepresentation`; audits `representation.revoked` for each.
        """
        check_actor(actor)
        check_reason(reason)
        now = self._now()
        with self._store.transaction() as tx:
            mandate = tx.mandate(representation_id)
            if mandate is None:
                raise UnknownRepresentation(representation_id)
            national_id = mandate.entity.national_id
            ended = tx.revoke_trees([representation_id], now=now, actor=actor, reason=reason)
        for e in ended:
            self._audit(*audit.revoked(e, national_id, actor, reason))
        return [e.id for e in ended]

    def take_back(self, representation_id: str, *, by: str, actor: str) -> list[str]:
        """Revoke a delegation `by` (a national code) made, as `revoke` does; a representative may take
        back only what they gave (what descends from it ends with it). Raises `DelegationRefused`."""
        if representation_id not in {m.representation.id for m in self.delegations_by(by)}:
            raise DelegationRefused("You can only take back mandates you gave.")
        return self.revoke(representation_id, actor=actor, reason="taken back by the representative who gave it")

    # Registry import -----------------------------------------------------------------------------

    def import_registry(self, records: Sequence[RegistryEntity], *, actor: str) -> ImportReport:
        """Bring entities and their registered officers in line with a companies-registry export.

        All or nothing: every record is checked first (`InvalidRegistryRecord` names the line), then
        everything is written in one transaction. Officers whose validity has already ended are not
        current and are treated as not listed. Representations granted by operators or by delegation
        are not the registry's and are kept. See `legal_entities.registry_import`.
        """
        check_actor(actor)
        now = self._now()
        checked = checked_records(records)
        report = ImportReport(changes=[], skipped=skipped_officers(records, now))
        events: list[audit.Event] = []
        with self._store.transaction() as tx:
            import_records(tx, checked, now=now, actor=actor, report=report, events=events)
        audit.report(self._audit, events)
        self._audit(*audit.imported(report, actor))
        return report

    def _now(self) -> datetime:
        return utc(self._clock(), "the clock's time")


def _require_entity(tx: EntitiesTransaction, national_id: str) -> Entity:
    entity = tx.entity(national_id)
    if entity is None:
        raise UnknownEntity(national_id)
    return entity
