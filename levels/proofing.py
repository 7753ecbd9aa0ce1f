"""Identity proofing: raising a person's tier to P2 (civil registry) or P3 (in person), with evidence.

Each successful verification is stored as a proofing record, which the provider states to relying
parties as OpenID Connect for Identity Assurance `verified_claims` (trust framework, method, time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from levels.clock import Clock, utcnow
from levels.errors import LevelsError
from levels.iranian_input import is_valid_national_code, normalize_name
from levels.people import Person, UnknownPerson

Audit = Callable[[str, Mapping[str, object]], None]

TRUST_FRAMEWORK = "ir_civil_registry"
SIMULATED_REGISTRY = Path(__file__).parent / "data" / "simulated-registry.json"
DOCUMENT_TYPES = frozenset({"idcard", "passport", "birth_certificate"})


# Registry and mobile operators ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    given_name: str
    family_name: str
    alive: bool


class CivilRegistry(Protocol):
    """The national civil registry (ثبت احوال)."""

    def lookup(self, national_code: str, birthdate: date) -> RegistryRecord | None:
        """Return the record with this national code AND this birth date, or None if there is none.

        A wrong birth date is indistinguishable from an unknown code, so the registry cannot be used
        to find out someone's birth date.
        """
        ...


class MobileOwnership(Protocol):
    """The mobile operators' subscriber registry (شاهکار-style ownership check)."""

    def owns(self, national_code: str, mobile: str) -> bool:
        """Return True if the line `mobile` (E.164) is registered to `national_code`."""
        ...


class SimulatedRegistry:
    """A `CivilRegistry` and `MobileOwnership` over a JSON file of fictional people, for development and tests."""

    def __init__(self, path: Path = SIMULATED_REGISTRY) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self._people: dict[str, tuple[date, RegistryRecord]] = {}
        self._owners: dict[str, str] = {}
        for entry in data["people"]:
            code = entry["national_code"]
            if not is_valid_national_code(code):
                raise ValueError(f"{path}: invalid national code {code!r}")
            record = RegistryRecord(entry["given_name"], entry["family_name"], bool(entry["alive"]))
            self._people[code] = (date.fromisoformat(entry["birthdate"]), record)
            for mobile in entry.get("mobiles", []):
                if mobile in self._owners:
                    raise ValueError(f"{path}: mobile {mobile} is registered twice")
                self._owners[mobile] = code

    def lookup(self, national_code: str, birthdate: date) -> RegistryRecord | None:
        found = self._people.get(national_code)
        return found[1] if found is not None and found[0] == birthdate else None

    def owns(self, national_code: str, mobile: str) -> bool:
        return self._owners.get(mobile) == national_code


# Proofing records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProofingRecord:
    id: int
    person_id: str
    tier: int
    method: str  # "registry" or "in_person"
    trust_framework: str
    evidence: Mapping[str, object]
    verified_at: datetime
    operator: str | None


class ProofingRecordStore(Protocol):
    """Durable proofing records (`levels.proofing_sql.SqlProofingStore` on the database)."""

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
        """Store a new record of a successful verification and return it with its id.

        Raises `UnknownPerson` if there is no such person.
        """
        ...

    def latest(self, person_id: str) -> ProofingRecord | None:
        """Return the person's most recent record, or None if they were never verified."""
        ...


# The service ---------------------------------------------------------------------------------------


class ProofingFailure(StrEnum):
    """Why a registry verification did not raise the tier (a closed set, like Keycloak's flow errors)."""

    MISSING_DATA = "missing_data"  # no birth date, or no mobile proven by a one-time code
    NO_MATCH = "no_match"  # national code and birth date are not one registry record
    DECEASED = "deceased"
    MOBILE_NOT_OWNED = "mobile_not_owned"


@dataclass(frozen=True, slots=True)
class ProofingResult:
    person: Person
    failure: ProofingFailure | None = None
    record: ProofingRecord | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class InvalidDocument(LevelsError, ValueError):
    """The identity document is not written as type:number with a known type."""


class ProofingPersonStore(Protocol):
    """The part of the person store that proofing needs."""

    def get(self, person_id: str) -> Person | None:
        """Return the person with this id, or None."""
        ...

    def get_by_national_code(self, code: str) -> Person | None:
        """Return the person with this ten-digit national code, or None."""
        ...

    def set_proofing(
        self, person_id: str, tier: int, given_name: str | None = None, family_name: str | None = None
    ) -> None:
        """Raise the tier to `tier` (never lower it) and replace the names given; raise `UnknownPerson`."""
        ...


class ProofingService:
    def __init__(
        self,
        people: ProofingPersonStore,
        records: ProofingRecordStore,
        registry: CivilRegistry,
        mobiles: MobileOwnership,
        audit: Audit,
        clock: Clock = utcnow,
    ) -> None:
        self._people = people
        self._records = records
        self._registry = registry
        self._mobiles = mobiles
        self._audit = audit
        self._clock = clock

    def verify_with_registry(self, person_id: str) -> ProofingResult:
        """P2: the person's national code and birth date are a living person in the civil registry,
        and their OTP-proven mobile line is registered to that national code.

        On success the tier becomes at least 2 and the names are taken from the registry. Raises
        `UnknownPerson` if there is no such person.
        """
        person = self._person(person_id)
        found = self._check_registry(person)
        if isinstance(found, ProofingFailure):
            self._audit("proofing.failed", {"person_id": person.id, "method": "registry", "reason": found.value})
            return ProofingResult(person, found)
        # Evidence first: a crash in between leaves a record without a raised tier, never the reverse.
        record = self._records.add(
            person.id, tier=2, method="registry", trust_framework=TRUST_FRAMEWORK,
            evidence={"type": "electronic_record", "record": {"type": "population_register"},
                      "mobile_ownership": True},
            verified_at=self._clock(),
        )
        # Registry exports write names with Arabic ي and ك as often as with the Persian letters.
        self._people.set_proofing(person.id, 2, given_name=normalize_name(found.given_name),
                                  family_name=normalize_name(found.family_name))
        return ProofingResult(self._raised(person, record), None, record)

    def verify_in_person(self, national_code: str, operator: str, document: str) -> Person:
        """P3: an operator at a counter office checked the person against `document` ("type:number",
        type one of idcard, passport, birth_certificate). Only the last four characters of the number
        (at most half of it) are kept.

        Raises `UnknownPerson` if nobody has this national code, `InvalidDocument` for a bad document
        and ValueError for an empty operator id.
        """
        if not operator.strip():
            raise ValueError("operator id is required")
        doc_type, masked = _masked_document(document)
        person = self._people.get_by_national_code(national_code)
        if person is None:
            raise UnknownPerson(national_code)
        record = self._records.add(
            person.id, tier=3, method="in_person", trust_framework=TRUST_FRAMEWORK,
            evidence={"type": "document", "document_details": {"type": doc_type, "document_number": masked}},
            verified_at=self._clock(), operator=operator.strip(),
        )
        self._people.set_proofing(person.id, 3)
        return self._raised(person, record)

    def _person(self, person_id: str) -> Person:
        person = self._people.get(person_id)
        if person is None:
            raise UnknownPerson(person_id)
        return person

    def _check_registry(self, person: Person) -> RegistryRecord | ProofingFailure:
        if person.birthdate is None or person.mobile is None or not person.mobile_verified:
            return ProofingFailure.MISSING_DATA
        found = self._registry.lookup(person.national_code, person.birthdate)
        if found is None:
            return ProofingFailure.NO_MATCH
        if not found.alive:
            return ProofingFailure.DECEASED
        if not self._mobiles.owns(person.national_code, person.mobile):
            return ProofingFailure.MOBILE_NOT_OWNED
        return found

    def _raised(self, before: Person, record: ProofingRecord) -> Person:
        after = self._person(before.id)
        self._audit("proofing.tier_raised", {
            "person_id": after.id, "method": record.method, "record_id": record.id,
            "from_tier": before.proofing_tier, "to_tier": after.proofing_tier,
            **({"operator": record.operator} if record.operator else {}),
        })
        return after


def _masked_document(document: str) -> tuple[str, str]:
    doc_type, sep, number = document.partition(":")
    doc_type, number = doc_type.strip().lower(), number.strip()
    if not sep or doc_type not in DOCUMENT_TYPES or not number:
        raise InvalidDocument(f"write the document as type:number, type one of {', '.join(sorted(DOCUMENT_TYPES))}")
    shown = min(4, len(number) // 2)
    return doc_type, "*" * (len(number) - shown) + number[len(number) - shown:]
