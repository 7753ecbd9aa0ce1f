"""What an authorization still needs from the person before a code may be issued: one answer.

Pure: no I/O and no clock of its own. Modelled on node-oidc-provider's ordered interaction policy:
the checks run in a fixed order and the first one that is not satisfied names the next step.

1. Identify: no signed-in person, or `prompt=login` (or `select_account` without `legal_entity`)
   and nobody signed in since this authorization started → `Login`.
2. Level: the requirement's level with fresh enough factors → otherwise `Proofing` (the proofing
   tier is too low), `StepUp(method)` (one more factor) or `CannotReach` (the person's
   authenticators cannot reach the level; the page offers to give up, which the client learns as
   `unmet_authentication_requirements`).
3. Entity: `legal_entity` asked, nobody chosen yet and someone to act for → `ActAs`.
4. Consent: needed and not given → `Consent`.
5. Otherwise `Issue`, with the level reached and the factors behind it (the token's `amr`).

`prompt=none` never shows a page: where a page would be shown the answer is `Refuse` with the OAuth
error the client receives (`login_required` for 1 and 2, `account_selection_required`,
`consent_required`). Facts that cost a lookup (the person's methods, the entities they may act for,
stored consent) are passed as callables and asked only when their check is reached.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from levels.level import Level
from levels.policy import Policy, ProvenFactor
from levels.requirement import Requirement

__all__ = [
    "ActAs", "CannotReach", "Consent", "Issue", "Login", "Proofing", "Refuse", "Snapshot", "Step", "StepUp",
    "next_step",
]

# When several factors would do, ask the one that is strongest and quickest for the person. The
# authenticator registry's ranks are passed in (`Snapshot.preference`); these are the built-ins'.
_PREFERENCE: Mapping[str, int] = MappingProxyType({"passkey": 0, "otp": 1, "sms": 2, "pwd": 3})

LOGIN_REQUIRED = "login_required"
ACCOUNT_SELECTION_REQUIRED = "account_selection_required"
CONSENT_REQUIRED = "consent_required"


@dataclass(frozen=True, slots=True)
class Issue:
    level: Level
    methods: frozenset[str]  # the fresh factors behind the level: the token's amr


@dataclass(frozen=True, slots=True)
class Login:
    """Sign in (again)."""


@dataclass(frozen=True, slots=True)
class StepUp:
    method: str
    level: Level


@dataclass(frozen=True, slots=True)
class Proofing:
    level: Level


@dataclass(frozen=True, slots=True)
class CannotReach:
    level: Level


@dataclass(frozen=True, slots=True)
class ActAs:
    """Choose whom to act for."""


@dataclass(frozen=True, slots=True)
class Consent:
    """Allow the client to receive what it asked for."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """End the authorization with this OAuth error (only for `prompt=none`)."""

    error: str
    description: str | None = None


Step = Issue | Login | StepUp | Proofing | CannotReach | ActAs | Consent | Refuse


def _nothing() -> frozenset[str]:
    return frozenset()


def _no() -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the decision reads, gathered once by the caller (times are time-zone aware)."""

    requirement: Requirement
    now: datetime
    signed_in: bool = False  # a session whose person is active
    tier: int = 0  # the person's proofing tier
    factors: Sequence[ProvenFactor] = ()  # proven in the session, with their times
    available: Callable[[], frozenset[str]] = _nothing  # the methods the person can use
    prompts: frozenset[str] = frozenset()
    started_at: datetime | None = None  # when this authorization started; None on its first request
    wants_entity: bool = False  # scope legal_entity
    entity_chosen: bool = False  # someone (or "myself") chosen, under a mandate that still holds
    entity_options: Callable[[], bool] = _no  # is there anyone to act for?
    consent_needed: Callable[[], bool] = _no  # must the person still allow the client?
    # Method -> rank, lower asked first (unranked last): the authenticator registry's ranks.
    preference: Mapping[str, int] = field(default_factory=lambda: _PREFERENCE)


def next_step(policy: Policy, s: Snapshot) -> Step:
    """The one next step of the authorization described by `s`; see the module docstring."""
    silent = "none" in s.prompts
    # select_account with legal_entity shows the "Act as" chooser again; without it, it means
    # "let me choose the account", i.e. sign in again.
    reidentify = "login" in s.prompts or ("select_account" in s.prompts and not s.wants_entity)
    if not s.signed_in or (reidentify and not _signed_in_since_start(s)):
        return Refuse(LOGIN_REQUIRED) if silent else Login()
    level = _level(policy, s)
    if not isinstance(level, Issue):
        # prompt=none never shows a page: any shortfall, including a level step-up, is login_required.
        return Refuse(LOGIN_REQUIRED) if silent else level
    if s.wants_entity and not s.entity_chosen and s.entity_options():
        return Refuse(ACCOUNT_SELECTION_REQUIRED, "The person must choose whom to act for.") if silent else ActAs()
    if s.consent_needed():
        return Refuse(CONSENT_REQUIRED, "The person must allow this service to access their information.") \
            if silent else Consent()
    return level


def _signed_in_since_start(s: Snapshot) -> bool:
    latest = max((f.at for f in s.factors), default=None)
    return s.started_at is not None and latest is not None and latest >= s.started_at


def _level(policy: Policy, s: Snapshot) -> Issue | StepUp | Proofing | CannotReach:
    """The level part: reached (Issue), or the one thing to do about it."""
    requirement = s.requirement
    max_age = timedelta(seconds=requirement.max_age) if requirement.max_age is not None else None
    level = policy.proven_level(s.tier, s.factors, s.now, max_age=max_age)
    if level is not None and level >= requirement.level:
        return Issue(level, policy.fresh(level, s.factors, s.now, max_age=max_age))
    shortfall = policy.missing(requirement.level, s.tier, s.factors, s.now, max_age=max_age)
    if shortfall.proofing:
        return Proofing(requirement.level)
    usable = s.available()
    feasible = [option for option in shortfall.options if option <= usable]
    if not feasible:
        return CannotReach(requirement.level)
    # Re-asking a factor the session already had (now stale) beats introducing a new one.
    used = frozenset(f.method for f in s.factors)
    best = min(feasible, key=lambda option: (
        len(option), not option <= used, sorted(s.preference.get(m, 9) for m in option)))
    return StepUp(min(best, key=lambda m: -s.preference.get(m, 9)), requirement.level)
