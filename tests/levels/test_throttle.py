import time

import pytest

from levels.throttle import Counter, LoginThrottle, TooManyAttempts

CODE = "0012345679"
IP = "198.51.100.7"


@pytest.fixture
def throttle(store) -> LoginThrottle:
    return LoginThrottle(store, per_account=5, per_ip=50, window=900)


def fail(throttle: LoginThrottle, account: str = CODE, ip: str = IP, times: int = 1) -> None:
    for _ in range(times):
        throttle.check(account, ip)
        throttle.failed(account, ip)


def test_both_stores_are_counters(store):
    counter: Counter = store
    assert counter is store


def test_check_alone_never_blocks(throttle):
    for _ in range(20):
        throttle.check(CODE, IP)


def test_five_failures_block_the_account(throttle):
    fail(throttle, times=4)
    throttle.check(CODE, IP)
    fail(throttle)
    with pytest.raises(TooManyAttempts) as info:
        throttle.check(CODE, IP)
    assert 0 < info.value.resets_in <= 900
    assert isinstance(info.value, Exception)


def test_blocked_account_is_blocked_from_every_ip(throttle):
    for n in range(5):
        fail(throttle, ip=f"203.0.113.{n}")
    with pytest.raises(TooManyAttempts):
        throttle.check(CODE, "192.0.2.1")


def test_other_accounts_are_unaffected(throttle):
    fail(throttle, times=5)
    throttle.check("0123456789", IP)


def test_success_clears_the_account(throttle):
    fail(throttle, times=4)
    throttle.succeeded(CODE)
    fail(throttle, times=4)
    throttle.check(CODE, IP)


def test_success_lifts_a_block(throttle):
    fail(throttle, times=5)
    throttle.succeeded(CODE)
    throttle.check(CODE, IP)


def test_ip_limit_across_many_accounts(throttle):
    for n in range(50):
        fail(throttle, account=f"{n:010d}")
    with pytest.raises(TooManyAttempts) as info:
        throttle.check("9876543210", IP)
    assert info.value.resets_in > 0
    throttle.check("9876543210", "198.51.100.8")


def test_success_does_not_clear_the_ip(throttle):
    for n in range(50):
        fail(throttle, account=f"{n:010d}")
    throttle.succeeded("0000000049")
    with pytest.raises(TooManyAttempts):
        throttle.check("9876543210", IP)


def test_block_ends_with_the_window(store):
    throttle = LoginThrottle(store, per_account=2, per_ip=50, window=0.3)
    fail(throttle, times=2)
    with pytest.raises(TooManyAttempts) as info:
        throttle.check(CODE, IP)
    assert info.value.resets_in <= 0.3
    time.sleep(0.4)
    throttle.check(CODE, IP)
    fail(throttle)
    throttle.check(CODE, IP)


def test_failures_outside_the_window_are_forgotten(store):
    throttle = LoginThrottle(store, per_account=2, per_ip=50, window=0.3)
    fail(throttle)
    time.sleep(0.4)
    fail(throttle)
    throttle.check(CODE, IP)


def test_store_keys_do_not_contain_the_national_code(store):
    seen: list[str] = []

    class Recording:
        def incr(self, key, window):
            seen.append(key)
            return store.incr(key, window)

        def ttl(self, key):
            seen.append(key)
            return store.ttl(key)

        def ttl_many(self, keys):
            seen.extend(keys)
            return store.ttl_many(keys)

        def set(self, key, value, ttl):
            seen.append(key)
            store.set(key, value, ttl)

        def delete(self, key):
            seen.append(key)
            store.delete(key)

    throttle = LoginThrottle(Recording(), per_account=1)
    throttle.check(CODE, IP)
    fail(throttle)
    throttle.succeeded(CODE)
    assert seen and not any(CODE in key for key in seen)


def test_secret_changes_the_account_key(store):
    plain = LoginThrottle(store, per_account=1)
    keyed = LoginThrottle(store, per_account=1, secret=b"k" * 32)
    fail(plain)
    with pytest.raises(TooManyAttempts):
        plain.check(CODE, "192.0.2.9")
    keyed.check(CODE, "192.0.2.9")
