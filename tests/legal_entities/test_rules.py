from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from legal_entities.models import (
    ALL_POWERS,
    DELEGATE,
    Entity,
    EntityStatus,
    Mandate,
    Representation,
    Source,
)
from legal_entities.rules import (
    DelegationRefused,
    can_delegate,
    check_delegation,
    entity_claim,
    grantor_order,
    is_current,
    may_act,
    powers_for_client,
    powers_for_request,
)
from levels.iranian_input import make_national_code

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)
CEO = make_national_code("001234567")
CLERK = make_national_code("987654321")
TAX_PORTAL = frozenset({"tax.file", "tax.view"})

ACME = Entity(
    id="e1",
    national_id="10380284790",
    name="Acme Co",
    type="private_joint_stock",
    status=EntityStatus.ACTIVE,
    min_level=2,
    created_at=NOW - 400 * DAY,
    updated_at=NOW - 400 * DAY,
)


def rep(
    powers=(ALL_POWERS, DELEGATE), *, valid_from=NOW - 30 * DAY, valid_until=None, revoked_at=None, code=CEO
) -> Representation:
    return Representation(
        id="m-000000000001",
        entity_id=ACME.id,
        national_code=code,
        role="ceo",
        powers=frozenset(powers),
        valid_from=valid_from,
        valid_until=valid_until,
        source=Source.REGISTRY,
        granted_by=None,
        parent_id=None,
        created_at=valid_from,
        revoked_at=revoked_at,
    )


def mandate(powers=(ALL_POWERS, DELEGATE), status=EntityStatus.ACTIVE, **kwargs) -> Mandate:
    return Mandate(replace(ACME, status=status), rep(powers, **kwargs))


# Being in force


def test_a_representation_is_current_inside_its_window():
    assert is_current(rep(valid_until=NOW + DAY), NOW)
    assert is_current(rep(valid_from=NOW), NOW)  # from its first moment


@pytest.mark.parametrize(
    "kwargs",
    [
        {"valid_until": NOW - DAY},  # expired
        {"valid_until": NOW},  # the end is exclusive
        {"valid_from": NOW + timedelta(seconds=1)},  # not started
        {"revoked_at": NOW - DAY},
    ],
)
def test_a_representation_outside_its_window_or_revoked_is_not_current(kwargs):
    assert not is_current(rep(**kwargs), NOW)


@pytest.mark.parametrize("status", [EntityStatus.SUSPENDED, EntityStatus.DISSOLVED])
def test_no_one_may_act_for_a_suspended_or_dissolved_entity(status):
    assert may_act(mandate(), NOW)
    assert not may_act(mandate(status=status), NOW)


def test_an_expired_mandate_may_not_act():
    assert not may_act(mandate(valid_until=NOW - DAY), NOW)


# Powers with a client


def test_all_powers_are_stated_as_all_powers_with_any_client():
    assert powers_for_client(frozenset({ALL_POWERS, DELEGATE}), TAX_PORTAL) == {ALL_POWERS}
    assert powers_for_client(frozenset({ALL_POWERS}), frozenset()) == {ALL_POWERS}


def test_other_powers_are_those_the_client_offers_and_never_delegate():
    powers = frozenset({"tax.file", "customs.declare", DELEGATE})
    assert powers_for_client(powers, TAX_PORTAL | {DELEGATE}) == {"tax.file"}
    assert powers_for_client(powers, frozenset({"health.view"})) == frozenset()


def test_a_request_gets_the_powers_usable_with_the_client():
    m = mandate({"tax.file", "tax.view", "customs.declare"})
    assert powers_for_request(m, TAX_PORTAL, frozenset({"tax.file"}), NOW) == TAX_PORTAL
    assert powers_for_request(m, TAX_PORTAL, frozenset(), NOW) == TAX_PORTAL


def test_a_request_for_a_service_not_held_is_refused():
    m = mandate({"tax.view"})
    assert powers_for_request(m, TAX_PORTAL, frozenset({"tax.file"}), NOW) is None


def test_all_powers_cover_every_requested_service():
    assert powers_for_request(mandate(), TAX_PORTAL, TAX_PORTAL, NOW) == {ALL_POWERS}


def test_a_mandate_with_nothing_for_this_client_is_not_offered():
    assert powers_for_request(mandate({"customs.declare", DELEGATE}), TAX_PORTAL, frozenset(), NOW) is None


@pytest.mark.parametrize(
    "m", [mandate(status=EntityStatus.SUSPENDED), mandate(valid_until=NOW - DAY), mandate(revoked_at=NOW - DAY)]
)
def test_a_request_under_a_mandate_not_in_force_is_refused(m):
    assert powers_for_request(m, TAX_PORTAL, frozenset(), NOW) is None


def test_entity_claim_states_the_entity_role_and_sorted_powers():
    assert entity_claim(mandate(), frozenset({"tax.view", "tax.file"})) == {
        "national_id": "10380284790",
        "name": "Acme Co",
        "role": "ceo",
        "powers": ["tax.file", "tax.view"],
    }


# Delegation


def delegate_from(grantor, powers=("tax.file",), *, to=CLERK, valid_from=NOW, valid_until=NOW + 10 * DAY):
    check_delegation(grantor, to, frozenset(powers), valid_from, valid_until, NOW)


def test_a_holder_of_delegate_may_pass_on_what_they_hold():
    delegate_from(mandate({"tax.file", "tax.view", DELEGATE}), {"tax.file", DELEGATE})


def test_a_holder_of_all_powers_may_pass_on_any_service_all_powers_and_delegate():
    delegate_from(mandate(), {"health.view", ALL_POWERS, DELEGATE})


def test_a_grantor_without_an_end_may_delegate_without_an_end():
    delegate_from(mandate(), valid_until=None)


@pytest.mark.parametrize(
    ("grantor", "kwargs", "reason"),
    [
        (mandate({"tax.file", DELEGATE}), {"powers": {"tax.file", "tax.view"}}, "powers you do not hold: tax.view"),
        (mandate({"tax.file"}), {}, "does not include the power to delegate"),
        (mandate({"tax.file", DELEGATE}), {"powers": {"tax.file", ALL_POWERS}}, "do not hold: *"),
        (mandate(), {"to": CEO}, "cannot delegate to yourself"),
        (mandate(), {"powers": set()}, "at least one power"),
        (mandate(), {"powers": {"tax file"}}, "not valid powers: 'tax file'"),
        (mandate(), {"powers": {"x" * 129}}, "not valid powers"),
        (mandate(), {"powers": {"tax.file\u00e9"}}, "not valid powers"),
        (mandate(valid_until=NOW - DAY), {}, "not in force"),
        (mandate(revoked_at=NOW - DAY), {}, "not in force"),
        (mandate(valid_from=NOW + DAY), {"valid_from": NOW + DAY}, "not in force"),
        (mandate(status=EntityStatus.SUSPENDED), {}, "Acme Co is suspended"),
        (mandate(), {"valid_until": NOW}, "must end after it starts"),
        (mandate(), {"valid_from": NOW - 2 * DAY, "valid_until": NOW - DAY}, "must end in the future"),
        (mandate(), {"valid_from": NOW - 31 * DAY}, "cannot start before your own mandate"),
        (mandate(valid_until=NOW + 5 * DAY), {"valid_until": NOW + 6 * DAY}, "longer than your own mandate"),
        (mandate(valid_until=NOW + 5 * DAY), {"valid_until": None}, "longer than your own mandate"),
    ],
)
def test_a_delegation_breaking_a_rule_is_refused_with_the_reason(grantor, kwargs, reason):
    with pytest.raises(DelegationRefused, match=reason.replace("*", r"\*")) as caught:
        delegate_from(grantor, **kwargs)
    assert caught.value.reason == str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_delegation_may_end_exactly_when_its_grantors_mandate_ends():
    delegate_from(mandate(valid_until=NOW + 5 * DAY), valid_until=NOW + 5 * DAY)


# Properties

SERVICES = ["tax.file", "tax.view", "customs.declare", "health.view"]
power_sets = st.frozensets(st.sampled_from([*SERVICES, ALL_POWERS, DELEGATE]), max_size=6)
offsets = st.integers(min_value=-40, max_value=40).map(lambda days: NOW + days * DAY)
optional_offsets = st.none() | offsets


@given(power_sets, optional_offsets, power_sets, offsets, optional_offsets)
def test_an_accepted_delegation_never_exceeds_its_grantor(
    grantor_powers, grantor_until, powers, valid_from, valid_until
):
    grantor = mandate(grantor_powers, valid_until=grantor_until)
    try:
        check_delegation(grantor, CLERK, powers, valid_from, valid_until, NOW)
    except DelegationRefused:
        return
    assert DELEGATE in grantor_powers
    assert ALL_POWERS in grantor_powers or powers <= grantor_powers
    if grantor_until is not None:
        assert valid_until is not None and valid_until <= grantor_until
    assert valid_from >= grantor.representation.valid_from
    # So whatever client the delegate uses, they can do no more than the grantor could.
    delegated = mandate(powers, valid_from=valid_from, valid_until=valid_until, code=CLERK)
    for client in (frozenset(SERVICES), frozenset(SERVICES[:2]), frozenset(SERVICES[2:])):
        theirs = powers_for_client(delegated.representation.powers, client)
        mine = powers_for_client(grantor_powers, client)
        assert ALL_POWERS in mine or theirs <= mine


@given(power_sets, st.frozensets(st.sampled_from(SERVICES)))
def test_powers_for_a_client_never_include_delegate_nor_anything_not_held(powers, client):
    result = powers_for_client(powers, client | {DELEGATE})
    assert DELEGATE not in result
    assert result <= powers
    assert result == {ALL_POWERS} or result <= client


@given(power_sets, st.frozensets(st.sampled_from(SERVICES)), st.frozensets(st.sampled_from(SERVICES)))
def test_a_granted_request_covers_every_requested_service(powers, client, requested):
    assume(requested <= client)
    result = powers_for_request(mandate(powers), client, requested, NOW)
    if result is not None:
        assert result and (ALL_POWERS in result or requested <= result)
    elif powers_for_client(powers, client):
        assert not requested <= powers and ALL_POWERS not in powers


# Who may give mandates


def test_only_a_holder_of_delegate_who_may_act_can_give_mandates():
    assert can_delegate(mandate(), NOW)
    assert can_delegate(mandate(("tax.file", DELEGATE)), NOW)
    assert not can_delegate(mandate(("tax.file",)), NOW)
    assert not can_delegate(mandate(status=EntityStatus.SUSPENDED), NOW)
    assert not can_delegate(mandate(valid_until=NOW), NOW)


def test_the_grantor_most_likely_to_allow_a_delegation_comes_first():
    def with_id(m: Mandate, id_: str) -> Mandate:
        return Mandate(m.entity, replace(m.representation, id=id_))

    full = with_id(mandate(), "m-4")
    partial = with_id(mandate(("tax.file", DELEGATE)), "m-3")
    without = with_id(mandate(("tax.file",)), "m-1")
    ended = with_id(mandate(valid_until=NOW), "m-0")
    ordered = sorted([ended, without, partial, full], key=grantor_order(NOW))
    assert [m.representation.id for m in ordered] == ["m-4", "m-3", "m-1", "m-0"]
