"""The `Store` contract, run against MemoryStore, a RedisStore on the local server and a RedisStore
on a 3-primary Redis Cluster (a multi-key operation whose keys were in different slots would fail
here with CROSSSLOT).

Expiry is checked with real time (TTLs of a fraction of a second), so both implementations are
held to the same clock the application sees.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from idp.storage.redis import RedisStore
from idp.storage.store import Store, StoreUnavailable
from tests.backends import redis_store

pytestmark = pytest.mark.cluster

T = TypeVar("T")

SHORT = 0.2  # seconds; long enough to read a key back, short enough to keep the file fast
AFTER_SHORT = 0.3


def race(n: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` in n threads released together; return the results in thread order."""
    barrier = threading.Barrier(n)
    results: list[T | None] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=5)
            results[i] = action(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return results  # type: ignore[return-value]


# get / set


def test_set_then_get_returns_the_same_bytes(store: Store) -> None:
    value = bytes(range(256))  # NUL bytes and invalid UTF-8 survive
    store.set("session:a", value, 10)
    assert store.get("session:a") == value


def test_get_of_unknown_key_is_none(store: Store) -> None:
    assert store.get("never-set") is None


def test_set_replaces_value_and_ttl(store: Store) -> None:
    store.set("k", b"first", SHORT)
    store.set("k", b"second", 10)
    time.sleep(AFTER_SHORT)
    assert store.get("k") == b"second"


def test_keys_are_independent(store: Store) -> None:
    store.set("a", b"1", 10)
    store.set("a:b", b"2", 10)
    store.delete("a")
    assert store.get("a") is None and store.get("a:b") == b"2"


def test_value_expires_after_its_ttl(store: Store) -> None:
    store.set("k", b"v", SHORT)
    assert store.get("k") == b"v"
    time.sleep(AFTER_SHORT)
    assert store.get("k") is None
    assert store.ttl("k") is None


# add


def test_add_stores_only_if_absent(store: Store) -> None:
    assert store.add("jti:1", b"first", 10) is True
    assert store.add("jti:1", b"second", 10) is False
    assert store.get("jti:1") == b"first"


def test_add_does_not_extend_an_existing_ttl(store: Store) -> None:
    assert store.add("k", b"first", SHORT)
    assert not store.add("k", b"second", 10)
    time.sleep(AFTER_SHORT)
    assert store.get("k") is None


def test_add_succeeds_again_once_the_key_expired(store: Store) -> None:
    assert store.add("k", b"old", SHORT)
    time.sleep(AFTER_SHORT)
    assert store.add("k", b"new", 10) is True
    assert store.get("k") == b"new"


def test_add_of_a_set_key_fails(store: Store) -> None:
    store.set("k", b"v", 10)
    assert store.add("k", b"other", 10) is False


def test_concurrent_add_has_exactly_one_winner(store: Store) -> None:
    results = race(20, lambda i: store.add("claim", str(i).encode(), 10))
    assert results.count(True) == 1
    winner = results.index(True)
    assert store.get("claim") == str(winner).encode()


# replace


def test_replace_updates_a_present_key_with_its_new_ttl(store: Store) -> None:
    store.set("k", b"old", 10)
    assert store.replace("k", b"new", SHORT) is True
    assert store.get("k") == b"new"
    time.sleep(AFTER_SHORT)
    assert store.get("k") is None


def test_replace_never_recreates_a_deleted_or_expired_key(store: Store) -> None:
    assert store.replace("never-set", b"v", 10) is False
    store.set("k", b"v", 10)
    store.delete("k")
    assert store.replace("k", b"again", 10) is False and store.get("k") is None
    store.set("short", b"v", SHORT)
    time.sleep(AFTER_SHORT)
    assert store.replace("short", b"again", 10) is False and store.get("short") is None


# take


def test_take_returns_the_value_once(store: Store) -> None:
    store.set("code:1", b"grant", 10)
    assert store.take("code:1") == b"grant"
    assert store.take("code:1") is None
    assert store.get("code:1") is None


def test_take_of_unknown_or_expired_key_is_none(store: Store) -> None:
    assert store.take("never-set") is None
    store.set("code:2", b"grant", SHORT)
    time.sleep(AFTER_SHORT)
    assert store.take("code:2") is None


def test_concurrent_take_has_exactly_one_winner(store: Store) -> None:
    for round_ in range(3):
        key = f"code:race:{round_}"
        store.set(key, b"grant", 10)
        results = race(20, lambda _i, key=key: store.take(key))
        assert results.count(b"grant") == 1, results
        assert results.count(None) == 19
        assert store.get(key) is None


# delete


def test_delete_forgets_the_key(store: Store) -> None:
    store.set("k", b"v", 10)
    store.delete("k")
    assert store.get("k") is None
    assert store.ttl("k") is None
    assert store.add("k", b"again", 10) is True


def test_delete_of_unknown_key_is_not_an_error(store: Store) -> None:
    store.delete("never-set")


def test_delete_forgets_several_keys_at_once_and_no_other(store: Store) -> None:
    # Names chosen to land in different hash slots of a cluster.
    names = [f"several:{i}" for i in range(12)]
    for name in names:
        store.set(name, b"v", 10)
    store.delete(*names[:10], "several:never-set")
    assert [store.get(n) for n in names] == [None] * 10 + [b"v", b"v"]


# incr


def test_incr_counts_from_one(store: Store) -> None:
    assert [store.incr("fails:a", 10) for _ in range(3)] == [1, 2, 3]
    assert store.incr("fails:b", 10) == 1


def test_incr_window_expires_and_counting_restarts(store: Store) -> None:
    assert store.incr("fails", SHORT) == 1
    assert store.incr("fails", SHORT) == 2
    time.sleep(AFTER_SHORT)
    assert store.ttl("fails") is None
    assert store.incr("fails", SHORT) == 1


def test_incr_window_runs_from_the_first_count(store: Store) -> None:
    window = 0.5
    store.incr("fails", window)
    time.sleep(0.15)
    store.incr("fails", window)
    remaining = store.ttl("fails")
    assert remaining is not None
    assert remaining <= window - 0.1, "a later incr must not extend the window"


def test_concurrent_incr_loses_no_count(store: Store) -> None:
    results = race(20, lambda _i: store.incr("hits", 10))
    assert sorted(results) == list(range(1, 21))


# ttl


def test_ttl_reports_remaining_seconds(store: Store) -> None:
    store.set("k", b"v", 10)
    remaining = store.ttl("k")
    assert remaining is not None and 9 < remaining <= 10
    time.sleep(0.1)
    later = store.ttl("k")
    assert later is not None and later < remaining


def test_ttl_of_unknown_key_is_none(store: Store) -> None:
    assert store.ttl("never-set") is None


def test_ttl_of_a_counter_is_its_window(store: Store) -> None:
    store.incr("fails", 60)
    remaining = store.ttl("fails")
    assert remaining is not None and 59 < remaining <= 60


# Redis only


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get("k"),
        lambda s: s.set("k", b"v", 1),
        lambda s: s.add("k", b"v", 1),
        lambda s: s.take("k"),
        lambda s: s.delete("k"),
        lambda s: s.incr("k", 1),
        lambda s: s.ttl("k"),
    ],
    ids=["get", "set", "add", "take", "delete", "incr", "ttl"],
)
def test_redis_connection_failure_is_store_unavailable(call: Callable[[RedisStore], object]) -> None:
    store = RedisStore("redis://127.0.0.1:1/0", prefix="idp-test-unreachable:")
    try:
        with pytest.raises(StoreUnavailable):
            call(store)
    finally:
        store.close()


def test_redis_prefixes_keep_stores_apart() -> None:
    with redis_store() as mine, redis_store() as theirs:
        assert isinstance(mine, RedisStore) and isinstance(theirs, RedisStore)
        mine.set("shared-name", b"mine", 10)
        assert theirs.get("shared-name") is None
        theirs.set("shared-name", b"theirs", 10)
        theirs.flush_prefix()
        assert mine.get("shared-name") == b"mine"


def test_ttl_many_reports_each_key_in_order(store: Store) -> None:
    store.set("many:a", b"1", 30)
    store.incr("many:c", 60)
    a, b, c = store.ttl_many(["many:a", "many:b", "many:c"])
    assert a is not None and 25 < a <= 30
    assert b is None
    assert c is not None and 55 < c <= 60


def test_ttl_many_from_the_event_loop_answers_like_ttl_many(store: Store) -> None:
    async def both() -> tuple[list[float | None], list[float | None]]:
        # Twice: the usual case (no key present) and after some appear.
        empty = await store.ttl_many_async(["loop:a", "loop:b"])
        store.set("loop:a", b"1", 30)
        return empty, await store.ttl_many_async(["loop:a", "loop:b"])

    empty, some = asyncio.run(both())
    assert empty == [None, None]
    assert some[0] is not None and 25 < some[0] <= 30 and some[1] is None


def test_ttl_many_from_the_event_loop_reports_an_unreachable_redis() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = RedisStore(f"redis://127.0.0.1:{port}/0", prefix="nowhere:", timeout=0.2)
    with pytest.raises(StoreUnavailable):
        asyncio.run(dead.ttl_many_async(["x"]))
    with pytest.raises(StoreUnavailable, match="down"):  # the breaker answers at once afterwards
        asyncio.run(dead.ttl_many_async(["x"]))
