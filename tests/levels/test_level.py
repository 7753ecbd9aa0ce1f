"""The three assurance levels (`levels.level`): ordered, each with its own acr value, and the eIDAS
names (low, substantial, high) accepted as aliases in `acr_values`."""

from __future__ import annotations

from levels.level import DEFAULT_ACR, EIDAS_ALIASES, Level
from levels.policy import Policy


def test_levels_are_ordered_so_the_stricter_requirement_wins() -> None:
    assert Level.LOW < Level.SUBSTANTIAL < Level.HIGH
    assert [level.value for level in sorted(Level)] == [1, 2, 3]
    # A client minimum of 2 and an acr_values asking for 1: level 2 is required.
    assert max(Level.SUBSTANTIAL, Level.LOW) is Level.SUBSTANTIAL
    assert Level(3) is Level.HIGH and Level.HIGH >= 3


def test_each_level_has_its_own_default_acr_urn() -> None:
    assert DEFAULT_ACR == {Level.LOW: "urn:idp:loa:1", Level.SUBSTANTIAL: "urn:idp:loa:2",
                           Level.HIGH: "urn:idp:loa:3"}
    assert set(DEFAULT_ACR) == set(Level)


def test_eidas_names_are_aliases_of_the_same_levels() -> None:
    assert EIDAS_ALIASES == {"low": Level.LOW, "substantial": Level.SUBSTANTIAL, "high": Level.HIGH}
    policy = Policy.default()
    for name, level in EIDAS_ALIASES.items():
        assert policy.level_for_acr(name) is level
        assert policy.level_for_acr(DEFAULT_ACR[level]) is level
    # Aliases are understood, never announced: discovery lists our URNs only.
    assert policy.acr_values() == [DEFAULT_ACR[level] for level in sorted(Level)]
    assert policy.level_for_acr("High") is None and policy.level_for_acr("urn:idp:loa:4") is None
