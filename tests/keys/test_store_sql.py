from datetime import UTC, datetime

import pytest

from keys.errors import KeyStoreConflict, UnknownKey
from keys.models import KeyState, SigningKey
from keys.rotation import Transition
from keys.store import MemoryKeyStore, StoredKey
from keys.store_sql import SqlKeyStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sql", "memory"])
def store(request, engine):
    return MemoryKeyStore() if request.param == "memory" else SqlKeyStore(engine)


def stored(kid: str, state: KeyState, alg: str = "ES256") -> StoredKey:
    key = SigningKey(
        kid=kid,
        alg=alg,
        state=state,
        public_jwk={"kid": kid, "alg": alg, "use": "sig"},
        created_at=T0,
        activated_at=T0 if state is KeyState.ACTIVE else None,
    )
    return StoredKey(key, b"\x01encrypted-" + kid.encode())


def test_roundtrip_keeps_every_field_and_aware_datetimes(store):
    store.add(stored("a", KeyState.ACTIVE))
    [row] = store.list_keys()
    assert row == stored("a", KeyState.ACTIVE)
    assert row.key.created_at.tzinfo is not None


def test_duplicate_kid_is_a_conflict(store):
    store.add(stored("a", KeyState.RETIRED))
    with pytest.raises(KeyStoreConflict):
        store.add(stored("a", KeyState.RETIRED))


@pytest.mark.parametrize("state", [KeyState.ACTIVE, KeyState.NEXT])
def test_a_second_active_or_next_key_per_alg_is_a_conflict(store, state):
    store.add(stored("a", state))
    store.add(stored("b", state, alg="RS256"))
    with pytest.raises(KeyStoreConflict):
        store.add(stored("c", state))
    store.add(stored("d", KeyState.RETIRED))
    store.add(stored("e", KeyState.RETIRED))


def test_stale_transition_changes_nothing(store):
    store.add(stored("a", KeyState.ACTIVE))
    store.add(stored("n", KeyState.NEXT))
    stale = [
        Transition("a", KeyState.ACTIVE, KeyState.RETIRED),
        Transition("n", KeyState.RETIRED, KeyState.ACTIVE),
    ]
    with pytest.raises(KeyStoreConflict):
        store.apply(stale, [stored("m", KeyState.NEXT)], T0)
    assert {r.key.kid: r.key.state for r in store.list_keys()} == {"a": KeyState.ACTIVE, "n": KeyState.NEXT}


def test_rotation_transitions_apply_atomically(store):
    store.add(stored("a", KeyState.ACTIVE))
    store.add(stored("n", KeyState.NEXT))
    later = datetime(2025, 2, 1, tzinfo=UTC)
    store.apply(
        [Transition("a", KeyState.ACTIVE, KeyState.RETIRED), Transition("n", KeyState.NEXT, KeyState.ACTIVE)],
        [stored("m", KeyState.NEXT)],
        later,
    )
    keys = {r.key.kid: r.key for r in store.list_keys()}
    assert {kid: k.state for kid, k in keys.items()} == {
        "a": KeyState.RETIRED,
        "n": KeyState.ACTIVE,
        "m": KeyState.NEXT,
    }
    assert keys["a"].retired_at == later and keys["n"].activated_at == later


def test_removed_keys_are_hidden_and_erased(store):
    store.add(stored("a", KeyState.RETIRED))
    store.set_state("a", KeyState.REMOVED, T0, expected=KeyState.RETIRED)
    assert store.list_keys() == []
    [row] = store.list_keys(include_removed=True)
    assert row.key.state is KeyState.REMOVED and row.encrypted_private_key == b""


def test_set_state_on_unknown_kid(store):
    with pytest.raises(UnknownKey):
        store.set_state("nope", KeyState.RETIRED, T0)
