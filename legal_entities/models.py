"""Entities, representations and mandates: the facts "who may act for which company, with which powers"."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EntityStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DISSOLVED = "dissolved"


class Source(StrEnum):
    REGISTRY = "registry"  # a registered officer, from the companies registry's export
    DELEGATION = "delegation"  # granted by a representative holding the `delegate` power
    OPERATOR = "operator"  # granted by an IdP operator from the CLI, on documents shown at a counter


# Powers are service scopes (e.g. `tax.file`), plus two with a meaning of their own:
ALL_POWERS = "*"  # every service of every agency: what a company's chief executive holds
DELEGATE = "delegate"  # may grant a subset of their own powers to another person


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    national_id: str  # 11 digits, the last a check digit
    name: str
    type: str  # as the companies registry names it, e.g. "private_joint_stock"
    status: EntityStatus
    min_level: int  # 1..3: the assurance level a person needs to act for the entity
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Representation:
    id: str
    entity_id: str
    national_code: str  # the representative (they need not have an account yet)
    role: str  # e.g. "ceo", "signatory", "employee"
    powers: frozenset[str]
    valid_from: datetime
    valid_until: datetime | None  # None: until revoked
    source: Source
    granted_by: str | None  # the grantor's national code (delegation) or the operator's name
    parent_id: str | None  # the grantor's representation, for delegations: it ends with its parent
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Mandate:
    """A representation together with its entity: everything needed to decide and to state it in a token."""

    entity: Entity
    representation: Representation


@dataclass(frozen=True, slots=True)
class Revoked:
    """A representation a revocation ended, and the one whose revocation ended it (itself for a root)."""

    id: str
    entity_id: str
    national_code: str
    role: str
    source: str
    root: str


@dataclass(frozen=True, slots=True)
class RegistryOfficer:
    """An officer as the companies registry lists them."""

    national_code: str
    role: str
    powers: frozenset[str]
    valid_from: datetime | None  # None: from the import
    valid_until: datetime | None  # None: until the registry says otherwise


@dataclass(frozen=True, slots=True)
class RegistryEntity:
    """One entity of a companies-registry export, with its complete list of officers."""

    national_id: str
    name: str
    type: str
    status: EntityStatus
    min_level: int | None  # None: keep what is stored (1 for a new entity)
    officers: tuple[RegistryOfficer, ...]
    line: int  # where it starts in the file, for messages


@dataclass(slots=True)
class ImportReport:
    entities_created: int = 0
    entities_updated: int = 0
    entities_unchanged: int = 0
    representations_added: int = 0
    representations_ended: int = 0
    representations_unchanged: int = 0
    changes: list[str] | None = None  # one line per change, e.g. "10380284790: ceo 0012345679 added"
    # Officers listed with a term that has already ended: nothing to import, but worth telling.
    skipped: list[str] | None = None


def new_entity_id() -> str:
    return secrets.token_urlsafe(12)


def new_representation_id() -> str:
    # Short enough to read out over the phone to an operator, random enough never to collide in practice.
    return "m-" + secrets.token_hex(6)


def new_representation(
    entity_id: str, national_code: str, role: str, powers: frozenset[str], valid_from: datetime,
    valid_until: datetime | None, source: Source, *, now: datetime, granted_by: str | None = None,
    parent_id: str | None = None,
) -> Representation:
    """A representation made at `now`, not revoked, with a fresh id."""
    return Representation(
        id=new_representation_id(), entity_id=entity_id, national_code=national_code, role=role, powers=powers,
        valid_from=valid_from, valid_until=valid_until, source=source, granted_by=granted_by, parent_id=parent_id,
        created_at=now, revoked_at=None,
    )
