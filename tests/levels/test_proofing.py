import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from levels.iranian_input import is_valid_national_code, make_national_code
from levels.people import Person, SqlPersonStore, UnknownPerson, new_person
from levels.proofing import (
    SIMULATED_REGISTRY,
    CivilRegistry,
    InvalidDocument,
    MobileOwnership,
    ProofingFailure,
    ProofingService,
    RegistryRecord,
    SimulatedRegistry,
)
from levels.proofing_sql import SqlProofingStore

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
DATA = json.loads(SIMULATED_REGISTRY.read_text(encoding="utf-8"))["people"]
SARA = DATA[0]  # alive, owns her mobiles
DECEASED = next(p for p in DATA if not p["alive"])
BORROWER = next(p for p in DATA if p["alive"] and not p["mobiles"])  # claims Sara's line


@dataclass
class Audit:
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    def __call__(self, kind: str, detail: object) -> None:
        self.events.append((kind, dict(detail)))  # type: ignore[call-overload]

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]


@pytest.fixture
def people(engine) -> SqlPersonStore:
    return SqlPersonStore(engine)


@pytest.fixture
def records(engine) -> SqlProofingStore:
    return SqlProofingStore(engine)


@pytest.fixture
def audit() -> Audit:
    return Audit()


@pytest.fixture
def service(people, records, audit) -> ProofingService:
    registry = SimulatedRegistry()
    return ProofingService(people, records, registry, registry, audit, clock=lambda: NOW)


def enrol(people: SqlPersonStore, entry: dict, *, mobile: str | None = None, verified: bool = True,
          birthdate: date | None | str = "registry", tier: int = 1) -> Person:
    born = date.fromisoformat(entry["birthdate"]) if birthdate == "registry" else birthdate
    person = new_person(entry["national_code"], "typed", "by hand", birthdate=born,
                        mobile=mobile or (entry["mobiles"] or [None])[0], mobile_verified=verified,
                        proofing_tier=tier, now=NOW)
    people.add(person)
    return person


# The simulated registry ----------------------------------------------------------------------------


def test_simulated_registry_satisfies_both_protocols():
    registry = SimulatedRegistry()
    civil: CivilRegistry = registry
    mobiles: MobileOwnership = registry
    assert civil is mobiles


def test_simulated_registry_data_is_consistent():
    assert 15 <= len(DATA) <= 30
    assert all(is_valid_national_code(p["national_code"]) for p in DATA)
    assert len({p["national_code"] for p in DATA}) == len(DATA)
    assert sum(not p["alive"] for p in DATA) == 1
    assert SARA["mobiles"][0] in BORROWER["note"]


def test_simulated_registry_needs_both_code_and_birthdate():
    registry = SimulatedRegistry()
    born = date.fromisoformat(SARA["birthdate"])
    found = registry.lookup(SARA["national_code"], born)
    assert found is not None and found.alive and found.given_name == SARA["given_name"]
    assert registry.lookup(SARA["national_code"], born + timedelta(days=1)) is None
    assert registry.lookup(make_national_code("999999990"), born) is None


def test_simulated_registry_mobile_ownership():
    registry = SimulatedRegistry()
    assert registry.owns(SARA["national_code"], SARA["mobiles"][0])
    assert not registry.owns(BORROWER["national_code"], SARA["mobiles"][0])
    assert not registry.owns(SARA["national_code"], "+989129999999")


def test_simulated_registry_refuses_a_line_registered_twice(tmp_path):
    twice = [dict(SARA), dict(DATA[1], mobiles=SARA["mobiles"][:1])]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"people": twice}), encoding="utf-8")
    with pytest.raises(ValueError, match="registered twice"):
        SimulatedRegistry(path)


# Registry verification (P2) ------------------------------------------------------------------------


def test_registry_match_raises_tier_to_2_with_registry_names_record_and_audit(people, records, audit, service):
    person = enrol(people, SARA)
    result = service.verify_with_registry(person.id)
    assert result.ok and result.failure is None
    assert result.person.proofing_tier == 2
    assert (result.person.given_name, result.person.family_name) == (SARA["given_name"], SARA["family_name"])
    assert people.get(person.id) == result.person
    record = records.latest(person.id)
    assert record == result.record
    assert (record.tier, record.method, record.trust_framework, record.verified_at) == (
        2, "registry", "ir_civil_registry", NOW)
    assert record.operator is None
    kind, detail = audit.events[-1]
    assert kind == "proofing.tier_raised"
    assert detail["person_id"] == person.id and (detail["from_tier"], detail["to_tier"]) == (1, 2)
    assert SARA["national_code"] not in json.dumps(detail)


@pytest.mark.parametrize(
    ("entry", "kwargs", "reason"),
    [
        (SARA, {"birthdate": None}, ProofingFailure.MISSING_DATA),
        (SARA, {"verified": False}, ProofingFailure.MISSING_DATA),
        (SARA, {"birthdate": date(1990, 3, 22)}, ProofingFailure.NO_MATCH),
        (DECEASED, {"mobile": "+989129999999"}, ProofingFailure.DECEASED),
        (BORROWER, {"mobile": SARA["mobiles"][0]}, ProofingFailure.MOBILE_NOT_OWNED),
        (SARA, {"mobile": "+989129999999"}, ProofingFailure.MOBILE_NOT_OWNED),
    ],
)
def test_registry_failures_leave_the_person_unchanged(people, records, audit, service, entry, kwargs, reason):
    person = enrol(people, entry, **kwargs)
    result = service.verify_with_registry(person.id)
    assert not result.ok and result.failure is reason and result.record is None
    assert people.get(person.id) == person == result.person
    assert records.latest(person.id) is None
    assert audit.events == [("proofing.failed", {"person_id": person.id, "method": "registry",
                                                 "reason": reason.value})]


def test_person_without_a_mobile_is_missing_data(people, service):
    person = new_person(SARA["national_code"], "S", "A", birthdate=date.fromisoformat(SARA["birthdate"]), now=NOW)
    people.add(person)
    assert service.verify_with_registry(person.id).failure is ProofingFailure.MISSING_DATA


def test_registry_names_are_stored_with_persian_yeh_and_kaf(people, records, audit):
    class ArabicSpellingRegistry(SimulatedRegistry):
        def lookup(self, national_code, birthdate):
            found = super().lookup(national_code, birthdate)
            return found and RegistryRecord("علي", "كريمى", found.alive)

    registry = ArabicSpellingRegistry()
    service = ProofingService(people, records, registry, registry, audit, clock=lambda: NOW)
    person = enrol(people, SARA)
    result = service.verify_with_registry(person.id)
    assert result.ok
    assert (result.person.given_name, result.person.family_name) == ("علی", "کریمی")


def test_registry_verification_of_unknown_person_raises(service):
    with pytest.raises(UnknownPerson):
        service.verify_with_registry("nobody")


def test_registry_verification_never_lowers_a_higher_tier(people, records, service):
    person = enrol(people, SARA, tier=3)
    result = service.verify_with_registry(person.id)
    assert result.ok and result.person.proofing_tier == 3
    assert result.person.given_name == SARA["given_name"]
    assert records.latest(person.id).method == "registry"


# In-person verification (P3) -----------------------------------------------------------------------


def test_in_person_raises_tier_to_3_and_masks_the_document(people, records, audit, service):
    person = enrol(people, SARA)
    after = service.verify_in_person(SARA["national_code"], "op-42", "passport:X12345678")
    assert after.proofing_tier == 3 and people.get(person.id).proofing_tier == 3
    assert after.given_name == "typed"  # names are not changed in person
    record = records.latest(person.id)
    assert (record.tier, record.method, record.operator, record.verified_at) == (3, "in_person", "op-42", NOW)
    assert record.evidence == {"type": "document",
                               "document_details": {"type": "passport", "document_number": "*****5678"}}
    kind, detail = audit.events[-1]
    assert kind == "proofing.tier_raised" and detail["operator"] == "op-42" and detail["to_tier"] == 3
    assert "X12345678" not in json.dumps(detail)


def test_in_person_then_registry_stays_at_3(people, service):
    person = enrol(people, SARA)
    service.verify_in_person(SARA["national_code"], "op-42", "idcard:" + SARA["national_code"])
    assert service.verify_with_registry(person.id).person.proofing_tier == 3


def test_short_document_numbers_are_half_masked(people, records, service):
    person = enrol(people, SARA)
    service.verify_in_person(SARA["national_code"], "op-1", "birth_certificate:123")
    assert records.latest(person.id).evidence["document_details"]["document_number"] == "**3"


@pytest.mark.parametrize("document", ["X12345678", "visa:123", "passport:", ":123"])
def test_in_person_rejects_bad_documents(people, service, document):
    enrol(people, SARA)
    with pytest.raises(InvalidDocument):
        service.verify_in_person(SARA["national_code"], "op-42", document)


def test_in_person_needs_an_operator_and_a_known_person(people, service):
    enrol(people, SARA)
    with pytest.raises(ValueError, match="operator"):
        service.verify_in_person(SARA["national_code"], " ", "passport:X1234")
    with pytest.raises(UnknownPerson):
        service.verify_in_person(DATA[1]["national_code"], "op-42", "passport:X1234")


# Store additions -----------------------------------------------------------------------------------


def test_set_proofing_only_raises(people):
    person = enrol(people, SARA, tier=2)
    people.set_proofing(person.id, 1, given_name="New")
    after = people.get(person.id)
    assert (after.proofing_tier, after.given_name, after.family_name) == (2, "New", "by hand")
    people.set_proofing(person.id, 3)
    assert people.get(person.id).proofing_tier == 3
    with pytest.raises(ValueError):
        people.set_proofing(person.id, 4)
    with pytest.raises(UnknownPerson):
        people.set_proofing("nobody", 2)


def test_set_mobile(people):
    person = enrol(people, SARA)
    people.set_mobile(person.id, "+989351112233", verified=False)
    after = people.get(person.id)
    assert (after.mobile, after.mobile_verified) == ("+989351112233", False)
    people.set_mobile(person.id, "+989351112233", verified=True)
    assert people.get(person.id).mobile_verified
    people.set_mobile(person.id, None, verified=True)
    assert (people.get(person.id).mobile, people.get(person.id).mobile_verified) == (None, False)
    with pytest.raises(UnknownPerson):
        people.set_mobile("nobody", "+989351112233", verified=True)
