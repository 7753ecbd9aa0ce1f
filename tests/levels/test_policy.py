from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.level import Level
from levels.policy import (
    FACTOR_KINDS,
    OTP,
    PASSKEY,
    PWD,
    SMS,
    FactorKind,
    InvalidPolicy,
    LevelRule,
    Policy,
    ProvenFactor,
    Shortfall,
)

NOW = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
POLICY = Policy.default()
L1, L2, L3 = Level.LOW, Level.SUBSTANTIAL, Level.HIGH


def ago(method: str, **delta: float) -> ProvenFactor:
    return ProvenFactor(method, NOW - timedelta(**delta))


def fresh(*methods: str) -> list[ProvenFactor]:
    return [ProvenFactor(m, NOW) for m in methods]


def options(*sets: set[str]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(s) for s in sets)


# The default policy


def test_default_rules_and_acr() -> None:
    assert POLICY.rule(L2) == LevelRule(L2, "urn:idp:loa:2", 2, timedelta(hours=1))
    assert POLICY.rule(L1).max_age == timedelta(hours=12)
    assert POLICY.rule(L3).max_age == timedelta(minutes=15) and POLICY.rule(L3).min_tier == 3
    assert POLICY.acr(L3) == "urn:idp:loa:3"
    assert POLICY.acr_values() == ["urn:idp:loa:1", "urn:idp:loa:2", "urn:idp:loa:3"]


def test_level_for_acr_knows_ours_and_eidas_names_only() -> None:
    assert POLICY.level_for_acr("urn:idp:loa:2") is L2
    assert POLICY.level_for_acr("substantial") is L2
    assert POLICY.level_for_acr("high") is L3 and POLICY.level_for_acr("low") is L1
    assert POLICY.level_for_acr("urn:idp:loa:4") is None
    assert POLICY.level_for_acr("HIGH") is None


def test_factor_kinds() -> None:
    assert FACTOR_KINDS[PWD] is FactorKind.KNOWLEDGE
    assert FACTOR_KINDS[SMS] is FACTOR_KINDS[OTP] is FactorKind.POSSESSION
    assert FACTOR_KINDS[PASSKEY] is FactorKind.PHISHING_RESISTANT


# Level 1


@pytest.mark.parametrize("method", [PWD, SMS, OTP, PASSKEY])
def test_any_one_factor_is_level_1(method: str) -> None:
    assert POLICY.proven_level(1, fresh(method), NOW) is L1


def test_no_factor_no_level() -> None:
    assert POLICY.proven_level(3, [], NOW) is None
    shortfall = POLICY.missing(L1, 1, [], NOW)
    assert shortfall == Shortfall(L1, False, options({OTP}, {PASSKEY}, {PWD}, {SMS}))


def test_level_1_factor_expires_after_the_session_lifetime() -> None:
    assert POLICY.proven_level(1, [ago(PWD, hours=12)], NOW) is L1
    assert POLICY.proven_level(1, [ago(PWD, hours=12, seconds=1)], NOW) is None


def test_unknown_methods_never_count() -> None:
    assert POLICY.proven_level(3, fresh("face", "x509"), NOW) is None
    assert POLICY.proven_level(3, fresh("face", PASSKEY), NOW) is L2


# Level 2


@pytest.mark.parametrize("methods", [(PWD, SMS), (PWD, OTP), (PASSKEY,), (OTP, PASSKEY)])
def test_level_2_combinations(methods: tuple[str, ...]) -> None:
    assert POLICY.proven_level(2, fresh(*methods), NOW) is L2


@pytest.mark.parametrize("methods", [(PWD,), (SMS,), (OTP,), (SMS, OTP)])
def test_one_kind_is_not_level_2(methods: tuple[str, ...]) -> None:
    assert POLICY.proven_level(2, fresh(*methods), NOW) is L1


def test_two_possession_factors_need_a_password_or_a_passkey() -> None:
    assert POLICY.missing(L2, 2, fresh(SMS, OTP), NOW).options == options({PASSKEY}, {PWD})


def test_level_2_from_a_password_asks_a_possession_factor_or_a_passkey() -> None:
    assert POLICY.missing(L2, 2, fresh(PWD), NOW).options == options({OTP}, {PASSKEY}, {SMS})


def test_level_2_from_nothing() -> None:
    assert POLICY.missing(L2, 2, [], NOW).options == options({PASSKEY}, {OTP, PWD}, {PWD, SMS})


def test_stale_password_is_asked_again_for_level_2() -> None:
    factors = [ago(PWD, hours=2), ago(OTP, minutes=5)]
    assert POLICY.proven_level(2, factors, NOW) is L1
    shortfall = POLICY.missing(L2, 2, factors, NOW)
    assert not shortfall.proofing
    assert frozenset({PWD}) in shortfall.options
    assert shortfall.options == options({PASSKEY}, {PWD})


def test_level_2_needs_tier_2() -> None:
    assert POLICY.proven_level(1, fresh(PWD, OTP), NOW) is L1
    assert POLICY.missing(L2, 1, fresh(PWD, OTP), NOW) == Shortfall(L2, True, ())
    assert POLICY.missing(L2, 1, [], NOW) == Shortfall(L2, True, ())


def test_factors_from_the_future_do_not_count() -> None:
    assert POLICY.proven_level(2, [ago(PWD, minutes=1), ago(OTP, seconds=-1)], NOW) is L1


# Level 3


@pytest.mark.parametrize("other", [PWD, SMS, OTP])
def test_passkey_plus_one_is_level_3(other: str) -> None:
    assert POLICY.proven_level(3, fresh(PASSKEY, other), NOW) is L3


def test_passkey_alone_is_level_2() -> None:
    assert POLICY.proven_level(3, fresh(PASSKEY), NOW) is L2
    assert POLICY.missing(L3, 3, fresh(PASSKEY), NOW).options == options({OTP}, {PWD}, {SMS})


def test_level_3_without_passkey_asks_for_one() -> None:
    assert POLICY.missing(L3, 3, fresh(PWD, OTP), NOW).options == options({PASSKEY})
    assert POLICY.missing(L3, 3, [], NOW).options == options({OTP, PASSKEY}, {PASSKEY, PWD}, {PASSKEY, SMS})


def test_level_3_factors_older_than_15_minutes_are_asked_again() -> None:
    factors = [ago(PASSKEY, minutes=20), ago(PWD, minutes=1)]
    assert POLICY.proven_level(3, factors, NOW) is L2
    assert POLICY.missing(L3, 3, factors, NOW).options == options({PASSKEY})
    assert POLICY.proven_level(3, [ago(PASSKEY, minutes=15), ago(PWD, minutes=15)], NOW) is L3


def test_level_3_needs_tier_3() -> None:
    assert POLICY.proven_level(2, fresh(PASSKEY, PWD), NOW) is L2
    assert POLICY.missing(L3, 2, fresh(PASSKEY, PWD), NOW) == Shortfall(L3, True, ())


def test_met_level_has_no_shortfall() -> None:
    assert POLICY.missing(L2, 3, fresh(PASSKEY, PWD), NOW) == Shortfall(L2, False, ())


# max_age


def test_max_age_narrows_every_window() -> None:
    factors = [ago(PWD, minutes=10), ago(OTP, minutes=1)]
    assert POLICY.proven_level(2, factors, NOW) is L2
    assert POLICY.proven_level(2, factors, NOW, max_age=timedelta(minutes=5)) is L1
    assert POLICY.missing(L2, 2, factors, NOW, max_age=timedelta(minutes=5)).options == options({PASSKEY}, {PWD})
    assert POLICY.proven_level(2, factors, NOW, max_age=timedelta(seconds=30)) is None


def test_max_age_never_widens_a_window() -> None:
    factors = [ago(PASSKEY, minutes=30), ago(PWD, minutes=30)]
    assert POLICY.proven_level(3, factors, NOW, max_age=timedelta(days=1)) is L2


def test_max_age_zero_counts_only_factors_proven_now() -> None:
    assert POLICY.proven_level(1, [ago(PWD, seconds=1)], NOW, max_age=timedelta(0)) is None
    assert POLICY.proven_level(1, fresh(PWD), NOW, max_age=timedelta(0)) is L1


def test_negative_max_age_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="max_age"):
        POLICY.proven_level(1, [], NOW, max_age=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="aware"):
        POLICY.missing(L1, 1, [], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        ProvenFactor(PWD, NOW.replace(tzinfo=None))


# amr


@pytest.mark.parametrize(
    ("methods", "amr"),
    [
        ([], []),
        ([PWD], ["pwd"]),
        ([SMS], ["sms"]),
        ([SMS, OTP], ["otp", "sms"]),
        ([PWD, OTP], ["mfa", "otp", "pwd"]),
        ([PWD, SMS], ["mfa", "pwd", "sms"]),
        ([PASSKEY], ["hwk", "mfa", "user"]),
        ([PASSKEY, PWD, PWD], ["hwk", "mfa", "pwd", "user"]),
        (["face", PWD], ["pwd"]),
    ],
)
def test_amr(methods: list[str], amr: list[str]) -> None:
    assert POLICY.amr(methods) == amr


# Validation


def rules(**changes: object) -> dict[Level, LevelRule]:
    base = {level: POLICY.rule(level) for level in Level}
    level = changes.pop("level", L2)
    assert isinstance(level, Level)
    base[level] = replace(base[level], **changes)  # type: ignore[arg-type]
    return base


def test_custom_rules_are_used() -> None:
    policy = Policy(rules(acr="https://example.gov/loa/substantial", max_age=timedelta(minutes=30)))
    assert policy.level_for_acr("https://example.gov/loa/substantial") is L2
    assert policy.level_for_acr("urn:idp:loa:2") is None
    assert policy.acr_values()[1] == "https://example.gov/loa/substantial"
    assert policy.proven_level(2, [ago(PWD, minutes=45), ago(OTP, minutes=1)], NOW) is L1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"level": L3, "min_tier": 1}, "lower proofing tier"),
        ({"level": L1, "min_tier": 3}, "lower proofing tier"),
        ({"min_tier": 0}, "min_tier"),
        ({"min_tier": 4}, "min_tier"),
        ({"max_age": timedelta(hours=13)}, "older factors"),
        ({"level": L3, "max_age": timedelta(hours=2)}, "older factors"),
        ({"max_age": timedelta(0)}, "positive"),
        ({"acr": "urn:idp:loa:1"}, "own acr"),
        ({"acr": ""}, "acr"),
        ({"acr": "a b"}, "acr"),
        ({"acr": "high"}, "eIDAS"),
        ({"level": L3, "acr": "urn:idp:loa:2"}, "own acr"),
    ],
)
def test_inconsistent_rules_are_refused(bad: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidPolicy, match=message):
        Policy(rules(**bad))


def test_every_level_needs_its_own_rule() -> None:
    all_rules = rules()
    del all_rules[L3]
    with pytest.raises(InvalidPolicy, match="each of levels"):
        Policy(all_rules)
    with pytest.raises(InvalidPolicy, match="is for level 1"):
        Policy({**rules(), L2: POLICY.rule(L1)})


def test_an_eidas_name_may_be_the_acr_of_its_own_level() -> None:
    assert Policy(rules(acr="substantial")).acr(L2) == "substantial"


# Properties over random sessions

METHODS = [PWD, SMS, OTP, PASSKEY, "face"]
AGES = st.one_of(
    st.sampled_from([0, 1, 899, 900, 901, 3599, 3600, 3601, 43_199, 43_200, 43_201, -1, -3600]),
    st.integers(min_value=-86_400, max_value=10 * 86_400),
)
factor_lists = st.lists(
    st.builds(lambda m, age: ProvenFactor(m, NOW - timedelta(seconds=age)), st.sampled_from(METHODS), AGES),
    max_size=6,
)
tiers = st.integers(min_value=0, max_value=3)
levels = st.sampled_from(list(Level))
max_ages = st.one_of(st.none(), st.integers(min_value=0, max_value=50_000).map(lambda s: timedelta(seconds=s)))


def oracle(tier: int, factors: list[ProvenFactor], max_age: timedelta | None) -> Level | None:
    """The default level table written out by hand, one level at a time."""

    def within(window: timedelta) -> set[str]:
        if max_age is not None and max_age < window:
            window = max_age
        return {f.method for f in factors if timedelta(0) <= NOW - f.at <= window}

    l3 = within(timedelta(minutes=15))
    if tier >= 3 and "passkey" in l3 and l3 & {"pwd", "sms", "otp"}:
        return L3
    l2 = within(timedelta(hours=1))
    if tier >= 2 and ("passkey" in l2 or ("pwd" in l2 and l2 & {"sms", "otp"})):
        return L2
    l1 = within(timedelta(hours=12))
    if tier >= 1 and l1 & {"pwd", "sms", "otp", "passkey"}:
        return L1
    return None


def at_least(reached: Level | None, level: Level) -> bool:
    return reached is not None and reached >= level


@given(tiers, factor_lists, max_ages)
def test_proven_level_matches_the_table(tier: int, factors: list[ProvenFactor], max_age: timedelta | None) -> None:
    assert POLICY.proven_level(tier, factors, NOW, max_age=max_age) == oracle(tier, factors, max_age)


@given(tiers, factor_lists, levels, max_ages)
def test_every_option_reaches_the_level(
    tier: int, factors: list[ProvenFactor], level: Level, max_age: timedelta | None
) -> None:
    shortfall = POLICY.missing(level, tier, factors, NOW, max_age=max_age)
    assert shortfall.level is level
    reached = at_least(POLICY.proven_level(tier, factors, NOW, max_age=max_age), level)
    assert shortfall.proofing == (tier < level)  # the default tiers equal the levels
    assert bool(shortfall.options) == (not reached and not shortfall.proofing)
    for option in shortfall.options:
        added = [*factors, *fresh(*option)]
        assert at_least(POLICY.proven_level(tier, added, NOW, max_age=max_age), level)
        for method in option:
            fewer = [*factors, *fresh(*(option - {method}))]
            assert not at_least(POLICY.proven_level(tier, fewer, NOW, max_age=max_age), level)
    sizes = [len(option) for option in shortfall.options]
    assert sizes == sorted(sizes)
    assert len(set(shortfall.options)) == len(shortfall.options)


@given(tiers, factor_lists, levels, max_ages)
def test_a_reached_level_has_nothing_missing(
    tier: int, factors: list[ProvenFactor], level: Level, max_age: timedelta | None
) -> None:
    if at_least(POLICY.proven_level(tier, factors, NOW, max_age=max_age), level):
        assert POLICY.missing(level, tier, factors, NOW, max_age=max_age) == Shortfall(level, False, ())


@given(tiers, factor_lists, st.sampled_from(METHODS), AGES, max_ages)
def test_adding_a_factor_never_lowers_the_level(
    tier: int, factors: list[ProvenFactor], method: str, age: int, max_age: timedelta | None
) -> None:
    before = POLICY.proven_level(tier, factors, NOW, max_age=max_age)
    after = POLICY.proven_level(tier, [*factors, ProvenFactor(method, NOW - timedelta(seconds=age))], NOW,
                                max_age=max_age)
    assert before is None or at_least(after, before)


@given(tiers, tiers, factor_lists, max_ages)
def test_a_lower_tier_never_reaches_higher(
    tier_a: int, tier_b: int, factors: list[ProvenFactor], max_age: timedelta | None
) -> None:
    low, high = sorted((tier_a, tier_b))
    at_low = POLICY.proven_level(low, factors, NOW, max_age=max_age)
    at_high = POLICY.proven_level(high, factors, NOW, max_age=max_age)
    assert at_low is None or at_least(at_high, at_low)


def test_fresh_lists_the_known_methods_that_still_count_for_a_level() -> None:
    factors = [ago(PWD, minutes=30), ago(SMS, hours=2), ago("carrier_pigeon", minutes=1)]
    assert POLICY.fresh(L1, factors, NOW) == {PWD, SMS}
    assert POLICY.fresh(L2, factors, NOW) == {PWD}
    assert POLICY.fresh(L1, factors, NOW, max_age=timedelta(minutes=10)) == frozenset()
    with pytest.raises(ValueError):
        POLICY.fresh(L1, factors, NOW.replace(tzinfo=None))
