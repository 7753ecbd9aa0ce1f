"""Which fresh factors and which proofing tier reach which level, and what is still missing.

Pure: no I/O and no clock of its own. Callers pass the person's proofing tier, the factors the
session has proven (each with its time) and `now`; a level is recomputed every time it is needed.
The factors' kinds and amr values are given at construction (the authenticator registry's
declarations, `levels.authenticators.base.Authenticators`); `FACTOR_KINDS` and `_AMR` are the
defaults for the built-in factors. The per-level factor rules are stated in terms of kinds, so a
new authenticator never changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import combinations, pairwise
from types import MappingProxyType

from levels.errors import LevelsError
from levels.level import DEFAULT_ACR, EIDAS_ALIASES, Level

PWD, SMS, OTP, PASSKEY = "pwd", "sms", "otp", "passkey"  # otp: a TOTP app; passkey: WebAuthn with UV


class FactorKind(StrEnum):
    KNOWLEDGE = "knowledge"
    POSSESSION = "possession"
    # Multi-factor in itself (possession of the authenticator plus user verification on it).
    PHISHING_RESISTANT = "phishing_resistant"


FACTOR_KINDS: Mapping[str, FactorKind] = MappingProxyType({
    PWD: FactorKind.KNOWLEDGE,
    SMS: FactorKind.POSSESSION,
    OTP: FactorKind.POSSESSION,
    PASSKEY: FactorKind.PHISHING_RESISTANT,
})

# RFC 8176 authentication method reference values for each method.
_AMR: Mapping[str, tuple[str, ...]] = MappingProxyType({
    PWD: ("pwd",),
    SMS: ("sms",),
    OTP: ("otp",),
    PASSKEY: ("hwk", "user"),
})

PROOFING_TIERS = range(1, 4)


class InvalidPolicy(LevelsError, ValueError):
    """The level rules are inconsistent; the message says which rule and why."""


@dataclass(frozen=True, slots=True)
class ProvenFactor:
    """A factor the person proved in this session, and when (time-zone aware)."""

    method: str
    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("ProvenFactor.at must be time-zone aware")


@dataclass(frozen=True, slots=True)
class LevelRule:
    level: Level
    acr: str
    min_tier: int
    max_age: timedelta  # how long a proven factor counts towards this level


@dataclass(frozen=True, slots=True)
class Shortfall:
    """What stands between the person and `level`.

    `proofing` is True when the person's proofing tier is too low: no factor can fix that, and
    `options` is then empty. Otherwise each option is a set of methods which, proven now, would
    reach the level; no option contains another, and the smallest come first. `options` is empty
    when the level is already reached.
    """

    level: Level
    proofing: bool
    options: tuple[frozenset[str], ...]


def _any_factor(methods: frozenset[str], kind_of: Mapping[str, FactorKind]) -> bool:
    return bool(methods)


def _two_kinds_or_phishing_resistant(methods: frozenset[str], kind_of: Mapping[str, FactorKind]) -> bool:
    kinds = {kind_of[m] for m in methods}
    return FactorKind.PHISHING_RESISTANT in kinds or len(kinds) >= 2


def _phishing_resistant_plus_one(methods: frozenset[str], kind_of: Mapping[str, FactorKind]) -> bool:
    return any(kind_of[m] is FactorKind.PHISHING_RESISTANT for m in methods) and len(methods) >= 2


# What the fresh, known methods of a session must satisfy for each level (besides proofing).
_FACTOR_RULES: Mapping[Level, Callable[[frozenset[str], Mapping[str, FactorKind]], bool]] = MappingProxyType({
    Level.LOW: _any_factor,
    Level.SUBSTANTIAL: _two_kinds_or_phishing_resistant,
    Level.HIGH: _phishing_resistant_plus_one,
})


class Policy:
    """The level rules: an acr, a minimum proofing tier and a maximum factor age per level.

    `kinds` and `amr` name the known factors (method → kind, method → amr values); methods not in
    `kinds` never count towards a level.
    """

    def __init__(
        self,
        rules: Mapping[Level, LevelRule],
        *,
        kinds: Mapping[str, FactorKind] = FACTOR_KINDS,
        amr: Mapping[str, tuple[str, ...]] = _AMR,
    ) -> None:
        _check_rules(rules)
        if set(amr) != set(kinds):
            raise InvalidPolicy("give amr values for exactly the methods that have a kind")
        self._kinds: Mapping[str, FactorKind] = MappingProxyType(dict(kinds))
        self._amr: Mapping[str, tuple[str, ...]] = MappingProxyType({m: tuple(v) for m, v in amr.items()})
        self._rules = {level: rules[level] for level in sorted(Level)}
        self._by_acr: dict[str, Level] = {**EIDAS_ALIASES, **{r.acr: level for level, r in self._rules.items()}}

    @property
    def kinds(self) -> Mapping[str, FactorKind]:
        """The known methods and their kinds."""
        return self._kinds

    @classmethod
    def default(cls) -> Policy:
        """Level 1: P1, 12 h; level 2: P2, 1 h; level 3: P3, 15 min; the default acr URNs."""
        limits = {
            Level.LOW: (1, timedelta(hours=12)),
            Level.SUBSTANTIAL: (2, timedelta(hours=1)),
            Level.HIGH: (3, timedelta(minutes=15)),
        }
        return cls({
            level: LevelRule(level, DEFAULT_ACR[level], min_tier, max_age)
            for level, (min_tier, max_age) in limits.items()
        })

    def rule(self, level: Level) -> LevelRule:
        return self._rules[level]

    def acr(self, level: Level) -> str:
        return self._rules[level].acr

    def level_for_acr(self, acr: str) -> Level | None:
        """The level an acr value names (one of ours or an eIDAS alias), or None if unknown."""
        return self._by_acr.get(acr)

    def acr_values(self) -> list[str]:
        """Our acr values ordered by level, for discovery's `acr_values_supported`."""
        return [rule.acr for rule in self._rules.values()]

    def proven_level(
        self, tier: int, factors: Sequence[ProvenFactor], now: datetime, *, max_age: timedelta | None = None
    ) -> Level | None:
        """The highest level reached, or None.

        A factor counts for a level if it was proven at most min(rule.max_age, max_age) before
        `now` and not after `now`; methods without a kind (see the class) never count.
        """
        _check_now(now, max_age)
        for level in sorted(Level, reverse=True):
            if self._reached(level, tier, factors, now, max_age):
                return level
        return None

    def missing(
        self,
        level: Level,
        tier: int,
        factors: Sequence[ProvenFactor],
        now: datetime,
        *,
        max_age: timedelta | None = None,
    ) -> Shortfall:
        """What the person still needs for `level`; see `Shortfall`. Factor ages as in `proven_level`."""
        _check_now(now, max_age)
        rule = self._rules[level]
        if tier < rule.min_tier:
            return Shortfall(level, proofing=True, options=())
        fresh = self._fresh(level, factors, now, max_age)
        meets = _FACTOR_RULES[level]
        if meets(fresh, self._kinds):
            return Shortfall(level, proofing=False, options=())
        others = sorted(self._kinds.keys() - fresh)
        options: list[frozenset[str]] = []
        # Ascending size, so an option is minimal exactly when no option found before is inside it.
        for size in range(1, len(others) + 1):
            for combo in combinations(others, size):
                option = frozenset(combo)
                if meets(fresh | option, self._kinds) and not any(found <= option for found in options):
                    options.append(option)
        return Shortfall(level, proofing=False, options=tuple(options))

    def fresh(
        self, level: Level, factors: Sequence[ProvenFactor], now: datetime, *, max_age: timedelta | None = None
    ) -> frozenset[str]:
        """The known methods among `factors` that still count towards `level` (ages as in
        `proven_level`): the factors behind a level, i.e. a token's `amr`."""
        _check_now(now, max_age)
        return self._fresh(level, factors, now, max_age)

    def amr(self, methods: Iterable[str]) -> list[str]:
        """RFC 8176 `amr` values for these methods, sorted; `mfa` for two kinds or a passkey.

        Methods without a kind are left out.
        """
        known = {m for m in methods if m in self._kinds}
        values = {value for m in known for value in self._amr[m]}
        kinds = {self._kinds[m] for m in known}
        if len(kinds) >= 2 or FactorKind.PHISHING_RESISTANT in kinds:
            values.add("mfa")
        return sorted(values)

    def _reached(
        self, level: Level, tier: int, factors: Sequence[ProvenFactor], now: datetime, max_age: timedelta | None
    ) -> bool:
        return tier >= self._rules[level].min_tier and _FACTOR_RULES[level](
            self._fresh(level, factors, now, max_age), self._kinds
        )

    def _fresh(
        self, level: Level, factors: Sequence[ProvenFactor], now: datetime, max_age: timedelta | None
    ) -> frozenset[str]:
        window = self._rules[level].max_age
        if max_age is not None:
            window = min(window, max_age)
        oldest = now - window
        return frozenset(f.method for f in factors if f.method in self._kinds and oldest <= f.at <= now)


def _check_now(now: datetime, max_age: timedelta | None) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    if max_age is not None and max_age < timedelta(0):
        raise ValueError("max_age must not be negative")


def _check_rules(rules: Mapping[Level, LevelRule]) -> None:
    if set(rules) != set(Level):
        raise InvalidPolicy("give exactly one rule for each of levels 1, 2 and 3")
    ordered = [rules[level] for level in sorted(Level)]
    for level, rule in zip(sorted(Level), ordered, strict=True):
        if rule.level != level:
            raise InvalidPolicy(f"the rule given for level {level.value} is for level {rule.level.value}")
        if not rule.acr or any(c.isspace() for c in rule.acr):
            raise InvalidPolicy(f"level {level.value}: acr must be non-empty with no spaces")
        alias = EIDAS_ALIASES.get(rule.acr)
        if alias is not None and alias != level:
            raise InvalidPolicy(f"level {level.value}: acr {rule.acr!r} is the eIDAS name of level {alias.value}")
        if rule.min_tier not in PROOFING_TIERS:
            raise InvalidPolicy(f"level {level.value}: min_tier must be 1, 2 or 3")
        if rule.max_age <= timedelta(0):
            raise InvalidPolicy(f"level {level.value}: max_age must be positive")
    if len({rule.acr for rule in ordered}) != len(ordered):
        raise InvalidPolicy("each level needs its own acr value")
    for lower, higher in pairwise(ordered):
        if higher.min_tier < lower.min_tier:
            raise InvalidPolicy(f"level {higher.level.value} cannot need a lower proofing tier than level "
                                f"{lower.level.value}")
        if higher.max_age > lower.max_age:
            raise InvalidPolicy(f"level {higher.level.value} cannot accept older factors than level "
                                f"{lower.level.value}")
