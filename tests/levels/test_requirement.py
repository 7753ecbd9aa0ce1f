"""The requirement of an authorization: the maximum of every source of a minimum level, the smallest
authentication age, and acr values that name nothing we know refused."""

from __future__ import annotations

import pytest

from levels.level import Level
from levels.policy import Policy
from levels.requirement import NoSupportedAcr, Requirement, ServiceNeed, essential_acr, required

POLICY = Policy.default()
L1, L2, L3 = "urn:idp:loa:1", "urn:idp:loa:2", "urn:idp:loa:3"


def test_the_client_minimum_alone() -> None:
    assert required(POLICY, client_min_level=1) == Requirement(Level.LOW, None)
    assert required(POLICY, client_min_level=2) == Requirement(Level.SUBSTANTIAL, None)


def test_the_highest_requested_service_and_the_smallest_age_count() -> None:
    services = [ServiceNeed(2, 3600), ServiceNeed(3, None), ServiceNeed(1, 600)]
    assert required(POLICY, client_min_level=1, services=services) == Requirement(Level.HIGH, 600)


def test_acr_values_name_acceptable_levels_so_the_lowest_named_counts() -> None:
    assert required(POLICY, client_min_level=1, acr_values=[L3, L2]).level is Level.SUBSTANTIAL
    # An unknown value among known ones is ignored; eIDAS names are aliases.
    assert required(POLICY, client_min_level=1, acr_values=["urn:other", "high"]).level is Level.HIGH


def test_acr_values_never_lower_the_client_or_service_minimum() -> None:
    assert required(POLICY, client_min_level=2, acr_values=[L1]).level is Level.SUBSTANTIAL
    assert required(POLICY, client_min_level=1, services=[ServiceNeed(3)], acr_values=[L2]).level is Level.HIGH


def test_essential_acr_in_the_claims_parameter() -> None:
    claims = {"id_token": {"acr": {"essential": True, "values": [L3, 7]}},
              "userinfo": {"acr": {"essential": True, "value": L2}}}
    assert essential_acr(claims) == [L3, L2]
    assert required(POLICY, client_min_level=1, essential=essential_acr(claims)).level is Level.SUBSTANTIAL
    # Not essential: a voluntary claim, no requirement.
    assert essential_acr({"id_token": {"acr": {"values": [L3]}}}) == []
    assert essential_acr({"id_token": {"acr": None}}) == []


@pytest.mark.parametrize(("source", "kwargs"), [
    ("acr_values", {"acr_values": ["urn:nothing", "medium"]}),
    ("claims", {"essential": ["urn:nothing"]}),
])
def test_naming_no_supported_acr_is_refused(source: str, kwargs: dict[str, list[str]]) -> None:
    with pytest.raises(NoSupportedAcr) as raised:
        required(POLICY, client_min_level=1, **kwargs)  # type: ignore[arg-type]
    assert raised.value.source == source
    assert str(raised.value) == f"No acr in {source} is supported; see acr_values_supported."


def test_acr_values_are_checked_before_the_claims_parameter() -> None:
    with pytest.raises(NoSupportedAcr) as raised:
        required(POLICY, client_min_level=1, acr_values=["x"], essential=["y"])
    assert raised.value.source == "acr_values"


def test_the_entity_minimum_raises_the_level_but_never_lowers_it() -> None:
    assert required(POLICY, client_min_level=1, entity_min_level=3).level is Level.HIGH
    assert required(POLICY, client_min_level=2, entity_min_level=1).level is Level.SUBSTANTIAL
    assert required(POLICY, client_min_level=1, entity_min_level=None).level is Level.LOW


def test_max_age_is_the_smallest_of_the_services_and_the_request() -> None:
    assert required(POLICY, client_min_level=1, max_age=300).max_age == 300
    assert required(POLICY, client_min_level=1, services=[ServiceNeed(1, 120)], max_age=300).max_age == 120
    assert required(POLICY, client_min_level=1, services=[ServiceNeed(1, 900)], max_age=0).max_age == 0


def test_factors_proven_since_the_authorization_started_count_even_for_max_age_zero() -> None:
    assert required(POLICY, client_min_level=1, max_age=0, elapsed=42.5).max_age == 42.5
    assert required(POLICY, client_min_level=1, max_age=600, elapsed=42.5).max_age == 600
    # No age asked: none is made up.
    assert required(POLICY, client_min_level=1, elapsed=42.5).max_age is None
