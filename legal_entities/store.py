"""What the legal-entities service needs from storage: reads, and a transaction of small primitives.

The service owns every rule and the clock; a store only reads and writes what it is told, so that
an embedded (SQLite) and a server (PostgreSQL) database, or a store for tests, behave the same under
the contract suite (tests/legal_entities/test_store_sql.py). Times go in and come out in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from legal_entities.models import Entity, EntityStatus, Mandate, Representation, Revoked, Source


class EntitiesTransaction(Protocol):
    """Reads and writes inside one transaction: all of them are kept, or none if the block raises.

    Methods that lock do so on databases that can (PostgreSQL), so that a delegation and a revocation
    of its grantor, or two changes of one entity, cannot interleave.
    """

    def entity(self, national_id: str, *, for_update: bool = False) -> Entity | None:
        """The entity with this national ID, or None; locked if `for_update`."""
        ...

    def entities_by_national_id(self, national_ids: Sequence[str]) -> list[Entity]:
        """The stored entities among `national_ids`, in no particular order."""
        ...

    def mandate(self, representation_id: str) -> Mandate | None:
        """The representation with this id and its entity, ended or not, or None."""
        ...

    def unrevoked_representations(self, entity_id: str, national_code: str) -> list[Representation]:
        """The person's unrevoked representations of the entity (ended or not yet started too), locked."""
        ...

    def current_representations(self, entity_ids: Sequence[str], source: Source, now: datetime) -> list[Representation]:
        """The representations from `source` of these entities not ended at `now`, oldest first."""
        ...

    def unrevoked_delegations_of(self, parent_ids: Sequence[str]) -> list[Representation]:
        """The unrevoked representations made from one of `parent_ids`, locked."""
        ...

    def insert_entities(self, entities: Sequence[Entity]) -> None: ...

    def update_entities(self, entities: Sequence[Entity]) -> None:
        """Store the name, type, status, minimum level and `updated_at` of each (matched by id)."""
        ...

    def insert_representations(self, representations: Sequence[Representation]) -> None: ...

    def set_parents(self, parents: Mapping[str, str]) -> None:
        """Make each representation (key) a delegation from another (value)."""
        ...

    def revoke_trees(self, root_ids: Sequence[str], *, now: datetime, actor: str, reason: str) -> list[Revoked]:
        """Revoke the unrevoked representations among `root_ids` and every unrevoked delegation below
        them, recording `actor` and `reason`; return what was revoked, roots first."""
        ...


class LegalEntitiesStore(Protocol):
    """Legal entities and the representations of the people who act for them."""

    def entity(self, national_id: str) -> Entity | None:
        """The entity with this eleven-digit national ID, or None."""
        ...

    def entities(self, *, status: EntityStatus | None, limit: int, offset: int) -> list[Entity]:
        """Entities ordered by name (then national ID), optionally only those with `status`."""
        ...

    def representations(self, entity_id: str, *, include_ended: bool, now: datetime) -> list[Representation]:
        """The entity's representations in the order they were made; ended ones (revoked, or past
        their validity at `now`) only if `include_ended`."""
        ...

    def mandates_of(self, national_code: str, *, include_ended: bool, now: datetime) -> list[Mandate]:
        """The person's representations with their entities, by entity name, role and id; ended ones
        only if `include_ended` (not yet started ones always)."""
        ...

    def mandate(self, representation_id: str) -> Mandate | None:
        """The representation with this id and its entity, ended or not, or None."""
        ...

    def delegations_by(self, national_code: str, *, now: datetime) -> list[Mandate]:
        """The delegations this person made that have not ended at `now`, by entity name then age."""
        ...

    def transaction(self) -> AbstractContextManager[EntitiesTransaction]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        ...
