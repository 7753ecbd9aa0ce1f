"""What an authorization still needs from the person before a code can be issued.

The level rules themselves live in `levels.policy`; this module only picks the next step for
the web flow: done, ask one more factor, raise the proofing tier, or explain that the person's
authenticators cannot reach the level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from levels.level import Level
from levels.policy import Policy, ProvenFactor

# When several factors would do, ask the one that is strongest and quickest for the person. The
# registry's ranks (each authenticator's `preference`) are passed in; these are the built-ins'.
_PREFERENCE: Mapping[str, int] = {"passkey": 0, "otp": 1, "sms": 2, "pwd": 3}


@dataclass(frozen=True, slots=True)
class Requirement:
    level: Level
    max_age: float | None = None  # seconds: OIDC max_age and the services' maximum authentication age


@dataclass(frozen=True, slots=True)
class Done:
    level: Level
    methods: frozenset[str]  # the fresh factors behind the level: the token's amr


@dataclass(frozen=True, slots=True)
class AskFactor:
    method: str
    level: Level


@dataclass(frozen=True, slots=True)
class NeedProofing:
    level: Level


@dataclass(frozen=True, slots=True)
class CannotReach:
    level: Level


Decision = Done | AskFactor | NeedProofing | CannotReach


def decide(
    policy: Policy, tier: int, factors: Sequence[ProvenFactor], available: Callable[[], frozenset[str]],
    requirement: Requirement, now: datetime, *, preference: Mapping[str, int] = _PREFERENCE,
) -> Decision:
    """`available` lists the methods the person can use (looked up only when a step is needed);
    `preference` ranks methods, lower asked first (unranked ones last)."""
    max_age = timedelta(seconds=requirement.max_age) if requirement.max_age is not None else None
    level = policy.proven_level(tier, factors, now, max_age=max_age)
    if level is not None and level >= requirement.level:
        window = policy.rule(level).max_age if max_age is None else min(max_age, policy.rule(level).max_age)
        fresh = frozenset(f.method for f in factors if now - window <= f.at <= now)
        return Done(level, fresh)
    shortfall = policy.missing(requirement.level, tier, factors, now, max_age=max_age)
    if shortfall.proofing:
        return NeedProofing(requirement.level)
    usable = available()
    feasible = [option for option in shortfall.options if option <= usable]
    if not feasible:
        return CannotReach(requirement.level)
    # Re-asking a factor the session already had (now stale) beats introducing a new one.
    used = frozenset(f.method for f in factors)
    best = min(feasible, key=lambda option: (
        len(option), not option <= used, sorted(preference.get(m, 9) for m in option)))
    return AskFactor(min(best, key=lambda m: -preference.get(m, 9)), requirement.level)
