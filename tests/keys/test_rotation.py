from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import UnsupportedAlgorithm
from keys.models import KeyState, SigningKey
from keys.rotation import RotationPlan, RotationPolicy, plan_rotation, plan_transitions
from keys.store import moved

T0 = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = RotationPolicy(retire_after=timedelta(days=90), remove_after=timedelta(days=1))
_ids = count()


def key(
    state: KeyState,
    alg: str = "ES256",
    *,
    created: datetime = T0,
    activated: datetime | None = None,
    retired: datetime | None = None,
) -> SigningKey:
    kid = f"k{next(_ids)}"
    return SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        public_jwk={"kid": kid, "alg": alg, "use": "sig"},
        created_at=created,
        activated_at=activated,
        retired_at=retired,
    )


def apply(keys: list[SigningKey], plan: RotationPlan, now: datetime) -> list[SigningKey]:
    """What KeyRing does through the store, in memory."""
    by_kid = {k.kid: k for k in keys}
    for t in plan_transitions(keys, plan):
        assert by_kid[t.kid].state is t.from_state
        by_kid[t.kid] = moved(by_kid[t.kid], t.to_state, now)
    if plan.create_active:
        new = key(KeyState.ACTIVE, plan.alg, created=now, activated=now)
        by_kid[new.kid] = new
    if plan.create_next:
        new = key(KeyState.NEXT, plan.alg, created=now)
        by_kid[new.kid] = new
    return list(by_kid.values())


def states(keys: list[SigningKey], alg: str) -> list[KeyState]:
    return sorted(k.state for k in keys if k.alg == alg)


def test_empty_keyring_creates_an_active_and_a_next_key():
    plan = plan_rotation([], "ES256", T0, POLICY)
    assert plan == RotationPlan(alg="ES256", create_active=True, create_next=True)
    assert sorted(states(apply([], plan, T0), "ES256")) == [KeyState.ACTIVE, KeyState.NEXT]


def test_lone_next_key_is_activated_and_replaced():
    nxt = key(KeyState.NEXT)
    plan = plan_rotation([nxt], "ES256", T0, POLICY)
    assert plan == RotationPlan(alg="ES256", activate=nxt.kid, create_next=True)


def test_lone_active_key_gets_a_next_key():
    active = key(KeyState.ACTIVE, activated=T0)
    assert plan_rotation([active], "ES256", T0, POLICY) == RotationPlan(alg="ES256", create_next=True)


def test_steady_state_is_a_fixed_point():
    keys = [key(KeyState.ACTIVE, activated=T0), key(KeyState.NEXT)]
    assert plan_rotation(keys, "ES256", T0 + timedelta(days=89), POLICY).is_empty


def test_forced_rotation_promotes_next_and_retires_active():
    active, nxt = key(KeyState.ACTIVE, activated=T0), key(KeyState.NEXT)
    plan = plan_rotation([active, nxt], "ES256", T0, POLICY, force=True)
    assert plan == RotationPlan(alg="ES256", activate=nxt.kid, retire=(active.kid,), create_next=True)


def test_active_key_rotates_when_older_than_retire_after():
    active, nxt = key(KeyState.ACTIVE, activated=T0), key(KeyState.NEXT)
    plan = plan_rotation([active, nxt], "ES256", T0 + timedelta(days=90), POLICY)
    assert plan.activate == nxt.kid and plan.retire == (active.kid,)


def test_retired_key_is_removed_only_after_remove_after():
    retired = key(KeyState.RETIRED, activated=T0, retired=T0)
    keys = [key(KeyState.ACTIVE, activated=T0), key(KeyState.NEXT), retired]
    assert plan_rotation(keys, "ES256", T0 + timedelta(hours=23), POLICY).remove == ()
    assert plan_rotation(keys, "ES256", T0 + timedelta(days=1), POLICY).remove == (retired.kid,)


def test_other_algorithms_are_ignored():
    keys = [key(KeyState.ACTIVE, "RS256", activated=T0), key(KeyState.NEXT, "RS256")]
    assert plan_rotation(keys, "ES256", T0, POLICY).create_active


def test_surplus_active_and_next_keys_are_retired():
    old = key(KeyState.ACTIVE, activated=T0)
    new = key(KeyState.ACTIVE, activated=T0 + timedelta(days=1))
    n1, n2 = key(KeyState.NEXT, created=T0), key(KeyState.NEXT, created=T0 + timedelta(days=1))
    plan = plan_rotation([old, new, n1, n2], "ES256", T0 + timedelta(days=2), POLICY)
    assert set(plan.retire) == {old.kid, n2.kid} and plan.activate is None and not plan.create_next


def test_unknown_alg_is_rejected():
    with pytest.raises(UnsupportedAlgorithm):
        plan_rotation([], "HS256", T0, POLICY)


def test_policy_rejects_non_positive_durations():
    with pytest.raises(ValueError):
        RotationPolicy(remove_after=timedelta(0))


steps = st.lists(
    st.tuples(
        st.sampled_from(["ES256", "RS256"]), st.integers(min_value=0, max_value=200 * 24), st.booleans()
    ),
    max_size=25,
)
initial_state = st.lists(
    st.tuples(
        st.sampled_from(["ES256", "RS256"]),
        st.sampled_from([KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED]),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(initial=initial_state, steps=steps)
def test_any_sequence_of_plans_keeps_one_active_and_one_next(initial, steps):
    keys = [
        key(
            state,
            alg,
            activated=T0 if state is not KeyState.NEXT else None,
            retired=T0 if state is KeyState.RETIRED else None,
        )
        for alg, state in initial
    ]
    now = T0
    for alg, hours, force in steps:
        now += timedelta(hours=hours)
        before = {k.kid: k.state for k in keys}
        plan = plan_rotation(keys, alg, now, POLICY, force=force)
        assert not set(plan.remove) & {
            kid for kid, s in before.items() if s in (KeyState.ACTIVE, KeyState.NEXT)
        }
        assert all(before[kid] is KeyState.RETIRED for kid in plan.remove)
        keys = apply(keys, plan, now)
        assert states(keys, alg).count(KeyState.ACTIVE) == 1
        assert states(keys, alg).count(KeyState.NEXT) == 1
        assert plan_rotation(keys, alg, now, POLICY).is_empty, "a second plan at the same instant is a no-op"
        # No key ever goes back: removed stays removed, retired never becomes active again.
        order = [KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED, KeyState.REMOVED]
        for k in keys:
            if k.kid in before:
                assert order.index(k.state) >= order.index(before[k.kid])
