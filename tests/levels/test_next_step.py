"""The one next step of an authorization: every step reachable, checked in their order, and
`prompt=none` refused where a page would be shown."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from levels.level import Level
from levels.next_step import (
    ActAs,
    CannotReach,
    Consent,
    Issue,
    Login,
    Proofing,
    Refuse,
    Snapshot,
    StepUp,
    next_step,
)
from levels.policy import Policy, ProvenFactor
from levels.requirement import Requirement

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
POLICY = Policy.default()
ALL = frozenset({"pwd", "sms", "otp", "passkey"})


def ago(method: str, **delta: float) -> ProvenFactor:
    return ProvenFactor(method, NOW - timedelta(**delta))


def snap(level: Level = Level.LOW, *, methods: tuple[str, ...] = ("pwd",), **fields: object) -> Snapshot:
    """A signed-in person at proofing tier 3 who proved `methods` a minute ago."""
    base = Snapshot(requirement=Requirement(level), now=NOW, signed_in=True, tier=3,
                    factors=tuple(ago(m, minutes=1) for m in methods), available=lambda: ALL)
    return replace(base, **fields)  # type: ignore[arg-type]


def always() -> bool:
    return True


def never_asked() -> bool:
    raise AssertionError("looked up although an earlier step decides")


# Each step


def test_issue_carries_the_level_reached_and_the_factors_behind_it() -> None:
    assert next_step(POLICY, snap(methods=("pwd",))) == Issue(Level.LOW, frozenset({"pwd"}))
    assert next_step(POLICY, snap(methods=("pwd", "sms"))) == Issue(Level.SUBSTANTIAL, frozenset({"pwd", "sms"}))


def test_nobody_signed_in_logs_in() -> None:
    assert next_step(POLICY, Snapshot(requirement=Requirement(Level.LOW), now=NOW)) == Login()


def test_a_missing_factor_is_asked_for() -> None:
    # A passkey reaches level 2 on its own, so it is preferred over a second factor.
    assert next_step(POLICY, snap(Level.SUBSTANTIAL)) == StepUp("passkey", Level.SUBSTANTIAL)
    assert next_step(POLICY, snap(Level.SUBSTANTIAL, available=lambda: frozenset({"pwd", "sms", "otp"}))) == \
        StepUp("otp", Level.SUBSTANTIAL)
    assert next_step(POLICY, snap(Level.SUBSTANTIAL, available=lambda: frozenset({"pwd", "sms"}))) == \
        StepUp("sms", Level.SUBSTANTIAL)


def test_a_stale_factor_the_session_had_is_asked_again_before_a_new_one() -> None:
    stale = snap(Level.SUBSTANTIAL, factors=(ago("sms", hours=2), ago("pwd", minutes=1)))
    assert next_step(POLICY, stale) == StepUp("sms", Level.SUBSTANTIAL)


def test_too_low_a_proofing_tier_needs_proofing_and_no_factor() -> None:
    assert next_step(POLICY, snap(Level.HIGH, tier=2, available=lambda: pytest.fail("no factor helps"))) == \
        Proofing(Level.HIGH)


def test_authenticators_that_cannot_reach_the_level() -> None:
    assert next_step(POLICY, snap(Level.HIGH, available=lambda: frozenset({"pwd", "sms"}))) == \
        CannotReach(Level.HIGH)


def test_someone_to_act_for_shows_the_chooser() -> None:
    assert next_step(POLICY, snap(wants_entity=True, entity_options=always)) == ActAs()
    # Nobody to act for, or already chosen: no chooser.
    assert isinstance(next_step(POLICY, snap(wants_entity=True)), Issue)
    assert isinstance(next_step(POLICY, snap(wants_entity=True, entity_chosen=True, entity_options=never_asked)),
                      Issue)
    # Without the legal_entity scope the mandates are never looked up.
    assert isinstance(next_step(POLICY, snap(entity_options=never_asked)), Issue)


def test_consent_needed_asks_for_it() -> None:
    assert next_step(POLICY, snap(consent_needed=always)) == Consent()


# Order


def test_login_comes_before_everything_and_looks_nothing_up() -> None:
    s = Snapshot(requirement=Requirement(Level.HIGH), now=NOW, available=lambda: pytest.fail("looked up"),
                 wants_entity=True, entity_options=never_asked, consent_needed=never_asked)
    assert next_step(POLICY, s) == Login()


def test_the_level_comes_before_the_entity_and_consent() -> None:
    s = snap(Level.SUBSTANTIAL, wants_entity=True, entity_options=never_asked, consent_needed=never_asked)
    assert next_step(POLICY, s) == StepUp("passkey", Level.SUBSTANTIAL)


def test_the_entity_comes_before_consent() -> None:
    assert next_step(POLICY, snap(wants_entity=True, entity_options=always, consent_needed=never_asked)) == ActAs()


def test_prompt_login_signs_in_again_unless_done_during_this_authorization() -> None:
    started = NOW - timedelta(seconds=30)
    assert next_step(POLICY, snap(prompts=frozenset({"login"}))) == Login()
    # The session's latest factor is older than this authorization.
    assert next_step(POLICY, snap(prompts=frozenset({"login"}), started_at=started)) == Login()
    signed_again = snap(prompts=frozenset({"login"}), started_at=started,
                        factors=(ago("pwd", hours=2), ago("pwd", seconds=10)))
    assert isinstance(next_step(POLICY, signed_again), Issue)


def test_select_account_signs_in_again_without_legal_entity_and_shows_the_chooser_with_it() -> None:
    prompts = frozenset({"select_account"})
    assert next_step(POLICY, snap(prompts=prompts)) == Login()
    assert next_step(POLICY, snap(prompts=prompts, wants_entity=True, entity_options=always)) == ActAs()


# max_age


def test_max_age_makes_older_factors_stale() -> None:
    s = snap(factors=(ago("pwd", minutes=10),))
    assert isinstance(next_step(POLICY, s), Issue)
    assert next_step(POLICY, replace(s, requirement=Requirement(Level.LOW, max_age=300))) == StepUp("pwd", Level.LOW)


def test_max_age_narrows_the_factors_behind_the_level() -> None:
    s = snap(Level.LOW, factors=(ago("sms", minutes=20), ago("pwd", minutes=1)),
             requirement=Requirement(Level.LOW, max_age=600))
    assert next_step(POLICY, s) == Issue(Level.LOW, frozenset({"pwd"}))


def test_each_level_keeps_its_own_maximum_factor_age() -> None:
    # Level 3 accepts factors up to 15 minutes old.
    s = snap(Level.HIGH, factors=(ago("passkey", minutes=20), ago("pwd", minutes=20)))
    assert next_step(POLICY, s) == StepUp("pwd", Level.HIGH)  # both stale: the quicker one first
    s = snap(Level.HIGH, factors=(ago("passkey", minutes=20), ago("pwd", minutes=10)))
    assert next_step(POLICY, s) == StepUp("passkey", Level.HIGH)


# prompt=none


@pytest.mark.parametrize(("fields", "error"), [
    ({"signed_in": False}, "login_required"),
    ({"prompts": frozenset({"none", "login"})}, "login_required"),
    ({"requirement": Requirement(Level.SUBSTANTIAL)}, "login_required"),  # a step-up
    ({"requirement": Requirement(Level.HIGH), "tier": 1}, "login_required"),  # proofing
    ({"requirement": Requirement(Level.HIGH), "available": lambda: frozenset({"pwd"})}, "login_required"),
    ({"wants_entity": True, "entity_options": always}, "account_selection_required"),
    ({"consent_needed": always}, "consent_required"),
])
def test_prompt_none_refuses_where_a_page_would_be_shown(fields: dict[str, object], error: str) -> None:
    s = replace(snap(), **{"prompts": frozenset({"none"}), **fields})  # type: ignore[arg-type]
    step = next_step(POLICY, s)
    assert isinstance(step, Refuse) and step.error == error


def test_prompt_none_refusals_say_what_the_client_needs_to_know() -> None:
    none = frozenset({"none"})
    assert next_step(POLICY, snap(prompts=none, signed_in=False)) == Refuse("login_required")
    assert next_step(POLICY, snap(prompts=none, wants_entity=True, entity_options=always)) == \
        Refuse("account_selection_required", "The person must choose whom to act for.")
    assert next_step(POLICY, snap(prompts=none, consent_needed=always)) == \
        Refuse("consent_required", "The person must allow this service to access their information.")


def test_prompt_none_issues_when_nothing_is_missing() -> None:
    assert next_step(POLICY, snap(prompts=frozenset({"none"}))) == Issue(Level.LOW, frozenset({"pwd"}))


# Essential acr and the entity minimum reach the evaluator as the requirement's level


def test_an_entity_requiring_a_higher_level_steps_up() -> None:
    from levels.requirement import required

    requirement = required(POLICY, client_min_level=1, entity_min_level=2)
    assert next_step(POLICY, snap(requirement=requirement)) == StepUp("passkey", Level.SUBSTANTIAL)


def test_an_essential_acr_steps_up() -> None:
    from levels.requirement import essential_acr, required

    claims = {"id_token": {"acr": {"essential": True, "value": "urn:idp:loa:2"}}}
    requirement = required(POLICY, client_min_level=1, essential=essential_acr(claims))
    assert next_step(POLICY, snap(requirement=requirement, available=lambda: frozenset({"pwd", "sms"}))) == \
        StepUp("sms", Level.SUBSTANTIAL)
