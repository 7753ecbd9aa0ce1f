"""The authenticator registry: ordered by preference, one authenticator per method, and the source
of the level policy's factor tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from levels.authenticators.base import Authenticator, Authenticators, Challenge, Step
from levels.level import Level
from levels.people import Person
from levels.policy import _AMR, FACTOR_KINDS, FactorKind, Policy, ProvenFactor

NOW = datetime(2026, 1, 1, tzinfo=UTC)
_RULES = {level: Policy.default().rule(level) for level in Level}


class Declared:
    """An authenticator that only declares itself (what the registry and the policy read)."""

    def __init__(self, method: str, kind: FactorKind, amr: tuple[str, ...], preference: int) -> None:
        self.method, self.kind, self.amr, self.preference = method, kind, amr, preference

    def available(self, person: Person) -> bool:
        return True

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        return Challenge()

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        return False


BUILT_IN = [Declared("pwd", FactorKind.KNOWLEDGE, ("pwd",), 3), Declared("sms", FactorKind.POSSESSION, ("sms",), 2),
            Declared("otp", FactorKind.POSSESSION, ("otp",), 1),
            Declared("passkey", FactorKind.PHISHING_RESISTANT, ("hwk", "user"), 0)]


def test_declarations_satisfy_the_protocol_and_the_registry_orders_them_by_preference() -> None:
    assert all(isinstance(a, Authenticator) for a in BUILT_IN)
    registry = Authenticators(BUILT_IN)
    assert list(registry) == ["passkey", "otp", "sms", "pwd"]
    assert registry.preference == {"passkey": 0, "otp": 1, "sms": 2, "pwd": 3}


def test_the_registry_declares_the_policy_defaults() -> None:
    registry = Authenticators(BUILT_IN)
    assert dict(registry.kinds) == dict(FACTOR_KINDS) and dict(registry.amr) == dict(_AMR)


def test_one_authenticator_per_method_and_each_with_an_amr() -> None:
    with pytest.raises(ValueError, match="two authenticators"):
        Authenticators([*BUILT_IN, Declared("sms", FactorKind.POSSESSION, ("sms",), 5)])
    with pytest.raises(ValueError, match="no amr"):
        Authenticators([Declared("pin", FactorKind.KNOWLEDGE, (), 5)])


def test_a_new_kind_of_factor_counts_towards_levels_through_the_policy_built_from_the_registry() -> None:
    registry = Authenticators([*BUILT_IN, Declared("token", FactorKind.POSSESSION, ("otp", "hwk"), 1)])
    policy = Policy(_RULES, kinds=registry.kinds, amr=registry.amr)
    factors = [ProvenFactor("pwd", NOW), ProvenFactor("token", NOW)]
    assert policy.proven_level(2, factors, NOW) == Level.SUBSTANTIAL
    assert policy.amr(["pwd", "token"]) == ["hwk", "mfa", "otp", "pwd"]
    assert frozenset({"token"}) in policy.missing(Level.SUBSTANTIAL, 2, factors[:1], NOW).options
    # The default policy does not know the method: it never counts.
    assert Policy.default().proven_level(2, factors, NOW) == Level.LOW
    assert Policy.default().proven_level(2, factors, NOW, max_age=timedelta(hours=1)) == Level.LOW


def test_kinds_and_amr_must_name_the_same_methods() -> None:
    from levels.policy import InvalidPolicy

    with pytest.raises(InvalidPolicy):
        Policy(_RULES, kinds={"pwd": FactorKind.KNOWLEDGE}, amr={})
