"""Key rotation as a pure function: given the keys and the time, say what should change.

`plan_rotation` never does I/O; `KeyRing` applies the plan through the store. Applying a plan
once always yields, for that algorithm, exactly one active and one next key, so callers never
need to plan twice (a second plan at the same instant is empty unless `force` is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keys.models import KeyState, SigningKey, check_alg


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """When keys move on.

    `retire_after`: how long a key stays active before an unforced plan rotates it.
    `remove_after`: how long a retired key stays published in the JWKS; it must exceed the
    longest lifetime of any token signed with it (ID, access and logout tokens), or those
    tokens stop verifying early.
    """

    retire_after: timedelta = timedelta(days=90)
    remove_after: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if self.retire_after <= timedelta(0) or self.remove_after <= timedelta(0):
            raise ValueError("retire_after and remove_after must be positive")


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """The changes for one algorithm, applied in this order:

    1. `retire`: kids moving to retired — the current active key when rotating, plus any
       surplus active or next keys (only possible after a crash or a manual edit);
    2. `activate`: the next key that becomes active, if any;
    3. `remove`: retired keys whose `remove_after` has passed (never an active or next key);
    4. `create_active`: generate a key directly in the active state. Only when there is no
       active key and no next key to promote (a fresh install); there is nothing to
       pre-publish in that case, so waiting gains nothing;
    5. `create_next`: generate a new next key.
    """

    alg: str
    activate: str | None = None
    retire: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    create_next: bool = False
    create_active: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.activate or self.retire or self.remove or self.create_next or self.create_active)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of an existing key; `from_state` is what the planner saw, so a store
    can refuse the change if another process moved the key first."""

    kid: str
    from_state: KeyState
    to_state: KeyState


def plan_rotation(
    keys: Sequence[SigningKey], alg: str, now: datetime, policy: RotationPolicy, force: bool = False
) -> RotationPlan:
    """Plan the changes that bring `alg`'s keys to exactly one active and one next key.

    Rotation (the next key becomes active, the active one retires, a new next is created)
    happens when `force` is true or the active key has been active for `retire_after`.
    Retired keys are removed once retired for `remove_after`. Keys of other algorithms and
    removed keys are ignored.
    """
    alg = check_alg(alg)
    mine = [k for k in keys if k.alg == alg]
    actives = sorted(
        (k for k in mine if k.state is KeyState.ACTIVE), key=lambda k: _activated(k), reverse=True
    )
    # The oldest next key has been published longest, so it is the safest to promote.
    nexts = sorted((k for k in mine if k.state is KeyState.NEXT), key=lambda k: (k.created_at, k.kid))
    retire = [k.kid for k in actives[1:]] + [k.kid for k in nexts[1:]]
    active = actives[0] if actives else None
    next_key = nexts[0] if nexts else None

    activate: str | None = None
    create_next = create_active = False
    if active is not None and (force or now - _activated(active) >= policy.retire_after):
        retire.insert(0, active.kid)
        active = None
    if active is None:
        if next_key is not None:
            activate = next_key.kid
        else:
            create_active = True
        create_next = True
    elif next_key is None:
        create_next = True

    remove = tuple(
        k.kid
        for k in sorted(mine, key=lambda k: k.kid)
        if k.state is KeyState.RETIRED and now - (k.retired_at or _activated(k)) >= policy.remove_after
    )
    return RotationPlan(
        alg=alg,
        activate=activate,
        retire=tuple(retire),
        remove=remove,
        create_next=create_next,
        create_active=create_active,
    )


def plan_transitions(keys: Sequence[SigningKey], plan: RotationPlan) -> tuple[Transition, ...]:
    """The plan's state changes of existing keys, in an order that never has two active or two
    next keys of one algorithm at the same moment."""
    state = {k.kid: k.state for k in keys}
    steps = [Transition(kid, state[kid], KeyState.RETIRED) for kid in plan.retire]
    if plan.activate is not None:
        steps.append(Transition(plan.activate, state[plan.activate], KeyState.ACTIVE))
    steps += [Transition(kid, state[kid], KeyState.REMOVED) for kid in plan.remove]
    return tuple(steps)


def _activated(key: SigningKey) -> datetime:
    return key.activated_at or key.created_at


__all__ = ["RotationPlan", "RotationPolicy", "Transition", "plan_rotation", "plan_transitions"]
