from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

import legal_entities.models as models_module
import legal_entities.registry_import as registry_import_module
from legal_entities.models import (
    ALL_POWERS,
    DELEGATE,
    EntityStatus,
    RegistryEntity,
    RegistryOfficer,
    Source,
)
from legal_entities.rules import DelegationRefused, may_act
from legal_entities.service import (
    InvalidRegistryRecord,
    InvalidRepresentation,
    LegalEntities,
    UnknownEntity,
    UnknownRepresentation,
)
from legal_entities.store_sql import SqlLegalEntitiesStore
from levels.iranian_input import InvalidNationalCode, make_national_code, make_national_id
from tests.clock import Clock

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)
TEHRAN = timezone(timedelta(hours=3, minutes=30))

ACME = make_national_id("1038028479")
BETA = make_national_id("1410001234")
GAMMA = make_national_id("1086000042")
CEO = make_national_code("001234567")
SIGNATORY = make_national_code("987654321")
MANAGER = make_national_code("123456789")
CLERK = make_national_code("111222333")
STRANGER = make_national_code("444555666")




@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def service(engine, record_audit, clock) -> LegalEntities:
    return LegalEntities(SqlLegalEntitiesStore(engine), record_audit, clock)


def officer(code=CEO, role="ceo", powers=(ALL_POWERS, DELEGATE), valid_from=None, valid_until=None):
    return RegistryOfficer(code, role, frozenset(powers), valid_from, valid_until)


def acme(*officers, name="Acme Co", status=EntityStatus.ACTIVE, min_level=None, nid=ACME, line=1):
    listed = officers or (officer(), officer(SIGNATORY, "signatory", ("tax.file", "tax.view")))
    return RegistryEntity(nid, name, "private_joint_stock", status, min_level, tuple(listed), line)


def only(mandates, role):
    [m] = [m for m in mandates if m.representation.role == role]
    return m


def no_national_codes_in(audit) -> bool:
    text = repr(audit)
    return not any(code in text for code in (CEO, SIGNATORY, MANAGER, CLERK, STRANGER))


# Import


def test_import_creates_entities_and_their_officers(service, audit):
    report = service.import_registry([acme(min_level=2)], actor="cli")
    assert (report.entities_created, report.representations_added) == (1, 2)
    assert report.changes == [
        f"{ACME} Acme Co: created",
        f"{ACME}: ceo {CEO} added",
        f"{ACME}: signatory {SIGNATORY} added",
    ]
    entity = service.entity(ACME)
    assert entity is not None
    assert (entity.name, entity.status, entity.min_level, entity.created_at) == ("Acme Co", EntityStatus.ACTIVE, 2, NOW)
    [ceo] = service.mandates_of(CEO)
    assert ceo.entity == entity and ceo.representation.source is Source.REGISTRY
    assert ceo.representation.powers == {ALL_POWERS, DELEGATE} and ceo.representation.valid_from == NOW
    assert may_act(ceo, NOW)
    assert [kind for kind, _ in audit] == [
        "entity.created",
        "representation.granted",
        "representation.granted",
        "legal_entities.imported",
    ]
    assert no_national_codes_in(audit)


def test_a_new_entity_without_a_level_needs_level_1(service):
    service.import_registry([acme()], actor="cli")
    assert service.entity(ACME).min_level == 1


def test_importing_the_same_export_twice_changes_nothing(service, audit, clock):
    until = datetime(2026, 3, 21, tzinfo=TEHRAN)
    records = [
        acme(officer(), officer(SIGNATORY, "signatory", ("tax.file",), valid_from=NOW - DAY, valid_until=until)),
        acme(officer(MANAGER), nid=BETA, name="Beta Ltd", line=4),
    ]
    service.import_registry(records, actor="cli")
    before = {code: service.mandates_of(code) for code in (CEO, SIGNATORY, MANAGER)}
    audit.clear()
    clock.now = NOW + DAY
    report = service.import_registry(records, actor="cli")
    assert (report.entities_created, report.entities_updated, report.entities_unchanged) == (0, 0, 2)
    assert (report.representations_added, report.representations_ended, report.representations_unchanged) == (0, 0, 3)
    assert report.changes == []
    assert {code: service.mandates_of(code) for code in before} == before
    assert [kind for kind, _ in audit] == ["legal_entities.imported"]


def test_import_ends_officers_no_longer_listed(service):
    service.import_registry([acme()], actor="cli")
    [signatory] = service.mandates_of(SIGNATORY)
    report = service.import_registry([acme(officer())], actor="cli")
    assert (report.representations_ended, report.representations_unchanged) == (1, 1)
    assert report.changes == [f"{ACME}: signatory {SIGNATORY} ended"]
    assert service.mandates_of(SIGNATORY) == []
    [ended] = service.mandates_of(SIGNATORY, include_ended=True)
    assert ended.representation.id == signatory.representation.id
    assert ended.representation.revoked_at == NOW
    assert not may_act(ended, NOW)


def test_an_officer_no_longer_listed_takes_their_delegations_along(service, audit):
    service.import_registry([acme()], actor="cli")
    made = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=NOW + 9 * DAY)
    kept = service.grant(ACME, MANAGER, role="accountant", powers={"tax.view"}, operator="counter-7")
    report = service.import_registry([acme(officer(SIGNATORY, "ceo"))], actor="cli")
    assert service.mandates_of(CLERK) == []
    assert service.mandate(made.id).representation.revoked_at == NOW
    # What the registry did not grant is not the registry's to end.
    assert [m.representation.id for m in service.mandates_of(MANAGER)] == [kept.id]
    assert report.representations_ended == 3  # the CEO, the signatory, and the CEO's delegation
    assert f"{ACME}: employee {CLERK} ended with the mandate of its grantor" in report.changes
    revoked = [detail for kind, detail in audit if kind == "representation.revoked"]
    assert {d["id"] for d in revoked if d.get("cascade_from")} == {made.id}
    assert no_national_codes_in(audit)


def test_an_officer_whose_powers_changed_is_ended_and_listed_anew(service):
    service.import_registry([acme()], actor="cli")
    [old] = service.mandates_of(SIGNATORY)
    report = service.import_registry([acme(officer(), officer(SIGNATORY, "signatory", ("tax.view",)))], actor="cli")
    assert (report.representations_added, report.representations_ended) == (1, 1)
    assert report.changes == [f"{ACME}: signatory {SIGNATORY} changed"]
    [new] = service.mandates_of(SIGNATORY)
    assert new.representation.id != old.representation.id
    assert new.representation.powers == {"tax.view"}
    assert service.mandate(old.representation.id).representation.revoked_at == NOW


def test_an_officer_whose_term_changed_is_listed_anew(service):
    service.import_registry([acme(officer(valid_until=NOW + 100 * DAY))], actor="cli")
    report = service.import_registry([acme(officer(valid_until=NOW + 465 * DAY))], actor="cli")
    assert report.changes == [f"{ACME}: ceo {CEO} changed"]
    [ceo] = service.mandates_of(CEO)
    assert ceo.representation.valid_until == NOW + 465 * DAY


def test_a_renewed_officer_keeps_the_delegations_the_new_mandate_still_covers(service, audit):
    service.import_registry([acme(officer(valid_until=NOW + 100 * DAY))], actor="cli")
    short = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=NOW + 50 * DAY)
    # The registry extends the chief executive's term: their employee keeps acting.
    report = service.import_registry([acme(officer(valid_until=NOW + 465 * DAY))], actor="cli")
    [ceo] = service.mandates_of(CEO)
    [clerk] = service.mandates_of(CLERK)
    assert clerk.representation.id == short.id and clerk.representation.parent_id == ceo.representation.id
    assert f"{ACME}: employee {CLERK} kept under the renewed mandate" in report.changes
    assert ("representation.reparented" in [kind for kind, _ in audit]) and no_national_codes_in(audit)
    # Revoking the renewed mandate still takes the delegation along.
    assert set(service.revoke(ceo.representation.id, actor="cli", reason="test")) == {ceo.representation.id, short.id}


def test_a_renewal_that_no_longer_covers_a_delegation_ends_it(service):
    service.import_registry([acme(officer())], actor="cli")
    made = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"customs.declare"},
                            valid_until=NOW + 50 * DAY)
    report = service.import_registry([acme(officer(powers=("tax.file", DELEGATE)))], actor="cli")
    assert service.mandates_of(CLERK) == []
    assert service.mandate(made.id).representation.revoked_at == NOW
    assert f"{ACME}: employee {CLERK} ended with the mandate of its grantor" in report.changes


def test_an_officer_whose_term_has_already_ended_is_not_added(service):
    report = service.import_registry([acme(officer(), officer(SIGNATORY, "signatory", valid_until=NOW))], actor="cli")
    assert report.representations_added == 1
    assert report.skipped == [f"{ACME}: signatory {SIGNATORY} not imported, their term has ended"]
    assert service.mandates_of(SIGNATORY, include_ended=True) == []
    again = service.import_registry([acme(officer(), officer(SIGNATORY, "signatory", valid_until=NOW))], actor="cli")
    assert again.changes == []


def test_import_updates_entities_and_audits_status_changes(service, audit):
    service.import_registry([acme()], actor="cli")
    service.set_min_level(ACME, 3, actor="ops")
    audit.clear()
    report = service.import_registry([acme(name="Acme Group", status=EntityStatus.SUSPENDED)], actor="cli")
    assert (report.entities_updated, report.representations_unchanged) == (1, 2)
    assert report.changes == [
        f"{ACME}: name changed from 'Acme Co' to 'Acme Group'",
        f"{ACME}: status changed from active to suspended",
    ]
    entity = service.entity(ACME)
    assert (entity.name, entity.status, entity.min_level) == ("Acme Group", EntityStatus.SUSPENDED, 3)
    assert ("entity.status_changed", {"national_id": ACME, "from": "active", "to": "suspended", "by": "cli"}) in audit
    assert not may_act(service.mandates_of(CEO)[0], NOW)


def test_import_rejects_a_national_id_listed_twice_and_stores_nothing(service, audit):
    records = [acme(nid=BETA, line=2), acme(line=5), acme(nid=BETA, line=9)]
    with pytest.raises(InvalidRegistryRecord, match="line 9: national ID .* listed twice .first on line 2.") as caught:
        service.import_registry(records, actor="cli")
    assert caught.value.line == 9
    assert service.entity(BETA) is None and service.entity(ACME) is None
    assert audit == []


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (acme(nid="10380284791"), "not a valid national ID"),
        (acme(officer("0012345678")), "not a valid national code"),
        (acme(officer(), officer()), "listed twice"),
        (acme(officer(powers=())), "at least one power"),
        (acme(officer(powers=("tax file",))), "not valid powers"),
        (acme(officer(role="")), "role"),
        (acme(officer(valid_from=NOW, valid_until=NOW - DAY)), "ends before it starts"),
        (acme(officer(valid_until=datetime(2026, 1, 1))), "time-zone aware"),
        (acme(min_level=4), "minimum level"),
        (acme(name=""), "name"),
    ],
)
def test_import_rejects_records_it_cannot_store(service, record, reason):
    with pytest.raises(InvalidRegistryRecord, match=reason):
        service.import_registry([acme(nid=GAMMA), record], actor="cli")
    assert service.entity(GAMMA) is None


def test_import_is_all_or_nothing_when_the_database_refuses_a_later_record(service, audit, monkeypatch):
    service.import_registry([acme(officer(SIGNATORY, "signatory", ("tax.file",)))], actor="cli")
    audit.clear()
    monkeypatch.setattr(registry_import_module, "IMPORT_BATCH", 1)  # the first entity is written before the failure
    monkeypatch.setattr(models_module, "new_representation_id", lambda: "m-000000000000")
    records = [acme(officer()), acme(officer(MANAGER), nid=BETA, line=3)]  # the same id twice: a primary key clash
    with pytest.raises(IntegrityError):
        service.import_registry(records, actor="cli")
    assert service.entity(BETA) is None
    [signatory] = service.mandates_of(SIGNATORY)  # not ended: the import that ended it was rolled back
    assert signatory.representation.revoked_at is None
    assert service.mandates_of(CEO) == []
    assert audit == []


def test_a_large_import_in_many_batches_matches_a_small_one(service, monkeypatch):
    monkeypatch.setattr(registry_import_module, "IMPORT_BATCH", 2)
    nids = [make_national_id(f"10{n:08d}") for n in range(11, 16)]
    records = [acme(officer(), nid=nid, name=f"Company {i}", line=i) for i, nid in enumerate(nids)]
    first = service.import_registry(records, actor="cli")
    assert (first.entities_created, first.representations_added) == (5, 5)
    assert sorted(m.entity.national_id for m in service.mandates_of(CEO)) == sorted(nids)
    records[3] = acme(officer(MANAGER), nid=nids[3], name="Company 3", line=3)
    second = service.import_registry(records, actor="cli")
    assert (second.entities_unchanged, second.representations_unchanged) == (5, 4)
    assert (second.representations_added, second.representations_ended) == (1, 1)
    assert sorted(m.entity.national_id for m in service.mandates_of(CEO)) == sorted(nids[:3] + nids[4:])


# Reads


def test_entities_are_listed_by_name_and_filtered_by_status(service):
    service.import_registry(
        [acme(name="Zeta"), acme(nid=BETA, name="Alpha"), acme(nid=GAMMA, name="Mu", status=EntityStatus.DISSOLVED)],
        actor="cli",
    )
    assert [e.name for e in service.entities()] == ["Alpha", "Mu", "Zeta"]
    assert [e.name for e in service.entities(status=EntityStatus.DISSOLVED)] == ["Mu"]
    assert [e.name for e in service.entities(limit=1, offset=1)] == ["Mu"]


def test_unknown_things_are_none(service):
    assert service.entity(ACME) is None
    assert service.mandate("m-000000000000") is None
    assert service.mandates_of(CEO) == []


def test_an_expired_mandate_is_not_current(service, clock):
    service.import_registry([acme(officer(valid_until=NOW + 10 * DAY))], actor="cli")
    entity = service.entity(ACME)
    [ceo] = service.mandates_of(CEO)
    clock.now = NOW + 10 * DAY
    assert service.mandates_of(CEO) == []
    assert service.representations(entity.id) == []
    assert service.mandates_of(CEO, include_ended=True) == [ceo]
    assert service.representations(entity.id, include_ended=True) == [ceo.representation]
    assert not may_act(service.mandate(ceo.representation.id), clock.now)


def test_times_come_back_in_utc(service):
    until = datetime(2026, 3, 21, 0, 0, tzinfo=TEHRAN)
    service.import_registry([acme(officer(valid_until=until))], actor="cli")
    [ceo] = service.mandates_of(CEO)
    assert ceo.representation.valid_until == until
    assert ceo.representation.valid_until.utcoffset() == timedelta(0)
    assert ceo.entity.created_at.utcoffset() == timedelta(0)


# Entities


def test_set_status_is_audited_and_stops_everyone_acting(service, audit):
    service.import_registry([acme()], actor="cli")
    audit.clear()
    entity = service.set_status(ACME, EntityStatus.SUSPENDED, actor="ops")
    assert entity.status is EntityStatus.SUSPENDED and service.entity(ACME) == entity
    assert audit == [("entity.status_changed", {"national_id": ACME, "from": "active", "to": "suspended", "by": "ops"})]
    assert not may_act(service.mandates_of(CEO)[0], NOW)
    service.set_status(ACME, EntityStatus.SUSPENDED, actor="ops")
    assert len(audit) == 1  # nothing changed, nothing to audit


def test_set_min_level(service, audit):
    service.import_registry([acme()], actor="cli")
    assert service.set_min_level(ACME, 3, actor="ops").min_level == 3
    assert service.entity(ACME).min_level == 3
    assert audit[-1] == ("entity.min_level_changed", {"national_id": ACME, "from": 1, "to": 3, "by": "ops"})
    with pytest.raises(ValueError, match="1, 2 or 3"):
        service.set_min_level(ACME, 4, actor="ops")


def test_changing_an_unknown_entity_fails(service):
    with pytest.raises(UnknownEntity):
        service.set_status(ACME, EntityStatus.ACTIVE, actor="ops")
    with pytest.raises(UnknownEntity):
        service.grant(ACME, CEO, role="ceo", powers={ALL_POWERS}, operator="ops")
    with pytest.raises(UnknownEntity):
        service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)


# Grants by operators


def test_an_operator_grant_is_stored_and_audited(service, audit):
    service.import_registry([acme()], actor="cli")
    audit.clear()
    rep = service.grant(
        ACME, MANAGER, role="accountant", powers=["tax.view"], valid_until=NOW + 30 * DAY, operator="counter-7"
    )
    assert (rep.source, rep.granted_by, rep.valid_from, rep.id[:2], len(rep.id)) == (
        Source.OPERATOR,
        "counter-7",
        NOW,
        "m-",
        14,
    )
    assert service.mandate(rep.id).representation == rep
    [(kind, detail)] = audit
    assert kind == "representation.granted"
    assert detail["id"] == rep.id and detail["by"] == "counter-7" and detail["source"] == "operator"
    assert no_national_codes_in(audit)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"national_code": "0012345678"}, InvalidNationalCode),
        ({"role": ""}, InvalidRepresentation),
        ({"role": "r" * 65}, InvalidRepresentation),
        ({"powers": set()}, InvalidRepresentation),
        ({"powers": "tax.file"}, InvalidRepresentation),
        ({"powers": {"tax file"}}, InvalidRepresentation),
        ({"valid_until": NOW - DAY}, InvalidRepresentation),
        ({"valid_from": NOW + 2 * DAY, "valid_until": NOW + DAY}, InvalidRepresentation),
        ({"valid_until": datetime(2026, 1, 1)}, InvalidRepresentation),
        ({"operator": ""}, InvalidRepresentation),
    ],
)
def test_a_grant_that_cannot_be_stored_is_refused(service, kwargs, error):
    service.import_registry([acme()], actor="cli")
    args = {"national_code": MANAGER, "role": "accountant", "powers": {"tax.view"}, "operator": "ops"} | kwargs
    with pytest.raises(error):
        service.grant(ACME, **args)
    assert service.mandates_of(args["national_code"]) == []


# Delegation


def test_a_delegation_is_recorded_against_the_grantors_mandate(service, audit):
    service.import_registry([acme()], actor="cli")
    [ceo] = service.mandates_of(CEO)
    audit.clear()
    rep = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=NOW + 9 * DAY)
    assert (rep.source, rep.granted_by, rep.parent_id) == (Source.DELEGATION, CEO, ceo.representation.id)
    [clerk] = service.mandates_of(CLERK)
    assert clerk.representation == rep and may_act(clerk, NOW)
    assert service.delegations_by(CEO) == [clerk]
    assert service.delegations_by(CLERK) == []
    [(kind, detail)] = audit
    assert kind == "representation.granted" and detail["parent_id"] == ceo.representation.id
    assert no_national_codes_in(audit)


def test_the_grantor_holding_all_powers_is_preferred(service):
    service.import_registry([acme()], actor="cli")
    narrow = service.grant(ACME, CEO, role="signatory", powers={"tax.file", DELEGATE}, operator="ops")
    rep = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)
    service.revoke(narrow.id, actor="ops", reason="documents withdrawn")
    assert [m.representation.id for m in service.mandates_of(CLERK)] == [rep.id]


def test_a_delegation_beyond_ones_own_powers_is_refused(service):
    service.import_registry([acme(officer(), officer(SIGNATORY, "signatory", ("tax.file", DELEGATE)))], actor="cli")
    with pytest.raises(DelegationRefused, match="powers you do not hold: customs.declare"):
        service.delegate(
            ACME, by=SIGNATORY, to=CLERK, role="employee", powers={"tax.file", "customs.declare"}, valid_until=None
        )
    assert service.mandates_of(CLERK) == []


def test_a_delegation_without_the_power_to_delegate_is_refused(service):
    service.import_registry([acme(officer(), officer(SIGNATORY, "signatory", ("tax.file",)))], actor="cli")
    with pytest.raises(DelegationRefused, match="does not include the power to delegate"):
        service.delegate(ACME, by=SIGNATORY, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)
    assert service.mandates_of(CLERK) == []


def test_a_delegation_longer_than_ones_own_mandate_is_refused(service):
    service.import_registry([acme(officer(valid_until=NOW + 30 * DAY))], actor="cli")
    with pytest.raises(DelegationRefused, match="longer than your own mandate"):
        service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=NOW + 31 * DAY)
    with pytest.raises(DelegationRefused, match="longer than your own mandate"):
        service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)
    assert service.mandates_of(CLERK) == []
    service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=NOW + 30 * DAY)
    assert len(service.mandates_of(CLERK)) == 1


def test_a_delegation_by_someone_who_does_not_represent_the_entity_is_refused(service):
    service.import_registry([acme(), acme(officer(STRANGER), nid=BETA)], actor="cli")
    with pytest.raises(DelegationRefused, match="You do not represent Acme Co"):
        service.delegate(ACME, by=STRANGER, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)


def test_the_most_relevant_refusal_is_given(service):
    service.import_registry([acme()], actor="cli")
    # The CEO also holds a narrow mandate without `delegate`; the refusal must speak of the one that could.
    service.grant(ACME, CEO, role="signatory", powers={"tax.file"}, operator="ops")
    with pytest.raises(DelegationRefused, match="cannot delegate to yourself"):
        service.delegate(ACME, by=CEO, to=CEO, role="employee", powers={"tax.file"}, valid_until=None)


def test_no_one_delegates_for_a_suspended_entity(service):
    service.import_registry([acme(status=EntityStatus.SUSPENDED)], actor="cli")
    with pytest.raises(DelegationRefused, match="suspended"):
        service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)


def test_a_delegation_to_an_invalid_national_code_is_refused(service):
    service.import_registry([acme()], actor="cli")
    with pytest.raises(InvalidNationalCode):
        service.delegate(ACME, by=CEO, to="0012345678", role="employee", powers={"tax.file"}, valid_until=None)


# Revocation


def test_revoking_a_mandate_revokes_every_delegation_made_from_it(service, audit, clock):
    service.import_registry([acme()], actor="cli")
    [ceo] = service.mandates_of(CEO)
    manager = service.delegate(
        ACME, by=CEO, to=MANAGER, role="manager", powers={"tax.file", DELEGATE}, valid_until=None
    )
    clerk = service.delegate(ACME, by=MANAGER, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)
    ended_earlier = service.delegate(
        ACME, by=MANAGER, to=STRANGER, role="temp", powers={"tax.file"}, valid_until=NOW + DAY
    )
    signatory = service.mandates_of(SIGNATORY)[0]
    audit.clear()
    clock.now = NOW + 2 * DAY
    ids = service.revoke(ceo.representation.id, actor="ops", reason="court order")
    # Roots first; the expired delegation is revoked too, so that no later change of its term revives it.
    assert ids[:2] == [ceo.representation.id, manager.id]
    assert set(ids) == {ceo.representation.id, manager.id, clerk.id, ended_earlier.id}
    for code in (CEO, MANAGER, CLERK, STRANGER):
        assert service.mandates_of(code) == []
    assert service.mandate(clerk.id).representation.revoked_at == clock.now
    assert service.mandates_of(SIGNATORY) == [signatory]
    assert [d["id"] for k, d in audit if k == "representation.revoked"] == ids
    assert audit[0][1] == {
        "id": ceo.representation.id,
        "national_id": ACME,
        "role": "ceo",
        "source": "registry",
        "reason": "court order",
        "by": "ops",
    }
    assert all(d["cascade_from"] == ceo.representation.id for _, d in audit[1:])
    assert no_national_codes_in(audit)
    assert service.revoke(ceo.representation.id, actor="ops", reason="again") == []
    assert len(audit) == 4


def test_revoking_a_delegation_leaves_its_grantor_alone(service):
    service.import_registry([acme()], actor="cli")
    rep = service.delegate(ACME, by=CEO, to=CLERK, role="employee", powers={"tax.file"}, valid_until=None)
    assert service.revoke(rep.id, actor="ops", reason="left the company") == [rep.id]
    assert len(service.mandates_of(CEO)) == 1
    assert service.delegations_by(CEO) == []


def test_revoking_an_unknown_representation_fails(service):
    with pytest.raises(UnknownRepresentation):
        service.revoke("m-000000000000", actor="ops", reason="typo")
