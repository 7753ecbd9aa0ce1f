import time

import pytest

from levels.throttle import Counter, LoginThrottle, TooManyAttempts, place

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster

CODE = "0012345679"
OTHER = "0123456789"
IP = "198.51.100.7"
DEVICE = "browser-1"


@pytest.fixture
def throttle(store) -> LoginThrottle:
    return LoginThrottle(store, per_ip=50, per_account_ip=5, per_device=5, per_account=20, window=900)


def fail(throttle: LoginThrottle, account: str | None = CODE, ip: str = IP, times: int = 1,
         device: str | None = None) -> None:
    for _ in range(times):
        throttle.check(account, ip, device)
        throttle.failed(account, ip, device)


def refused(throttle: LoginThrottle, account: str | None = CODE, ip: str = IP, device: str | None = None) -> float:
    with pytest.raises(TooManyAttempts) as info:
        throttle.check(account, ip, device)
    return info.value.resets_in


def test_both_stores_are_counters(store):
    counter: Counter = store
    assert counter is store


def test_check_alone_never_blocks(throttle):
    for _ in range(30):
        throttle.check(CODE, IP)
        throttle.check(CODE, IP, DEVICE)


# -- one place ----------------------------------------------------------------------------------

def test_failures_from_one_place_stop_that_place_for_the_account(throttle):
    fail(throttle, times=4)
    throttle.check(CODE, IP)
    fail(throttle)
    assert 0 < refused(throttle) <= 900


def test_a_place_stopped_for_an_account_stops_no_one_else(throttle):
    fail(throttle, times=5)
    # The same account from elsewhere, and other accounts from here, go on.
    throttle.check(CODE, "192.0.2.1")
    throttle.check(OTHER, IP)


def test_one_place_guessing_many_accounts_is_stopped(throttle):
    for n in range(50):
        fail(throttle, account=f"{n:010d}")
    assert refused(throttle, account="9876543210") > 0
    assert refused(throttle, account=None) > 0
    throttle.check("9876543210", "198.51.100.8")


def test_an_ipv6_subscriber_network_is_one_place(store):
    throttle = LoginThrottle(store, per_ip=3, window=900)
    for host in range(3):
        fail(throttle, account=f"{host:010d}", ip=f"2001:db8:1:2::{host + 1}")
    # Another address in the same /64 is the same place; the next /64 is another.
    refused(throttle, account=OTHER, ip="2001:db8:1:2:ffff::9")
    throttle.check(OTHER, "2001:db8:1:3::1")


def test_place_of_an_address():
    assert place("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert place("::ffff:192.0.2.1") == place("192.0.2.1") == "192.0.2.1"
    assert place("testclient") == "testclient"


def test_failures_from_one_place_slow_before_they_stop(store):
    throttle = LoginThrottle(store, per_account_ip=5, delay_after=2, first_delay=0.2, window=900)
    fail(throttle)
    throttle.check(CODE, IP)
    fail(throttle)
    first = refused(throttle)
    assert 0 < first <= 0.2
    # Another place is not slowed, and the wait ends by itself.
    throttle.check(CODE, "192.0.2.1")
    time.sleep(0.25)
    fail(throttle)
    second = refused(throttle)
    assert 0.2 < second <= 0.4
    time.sleep(0.45)
    fail(throttle)
    time.sleep(0.85)
    fail(throttle)
    # The fifth failure is the limit: stopped until the window ends, not for a doubling wait.
    assert refused(throttle) > 800


# -- many places: the account-wide cap and known devices -----------------------------------------

def test_guessing_spread_over_many_places_is_capped_for_the_account(throttle):
    for n in range(20):
        fail(throttle, ip=f"203.0.113.{n}")
    assert refused(throttle, ip="192.0.2.1") > 0
    throttle.check(OTHER, "192.0.2.1")


def test_a_known_device_gets_in_while_the_account_is_capped(throttle):
    for n in range(20):
        fail(throttle, ip=f"203.0.113.{n}")
    for n in range(49):
        fail(throttle, account=f"{n:010d}", ip="203.0.113.0")
    refused(throttle, account=OTHER, ip="203.0.113.0")
    # Even from a place that is itself stopped: the device answers for itself.
    throttle.check(CODE, "203.0.113.0", DEVICE)
    throttle.check(CODE, "192.0.2.1", DEVICE)
    throttle.succeeded(CODE, "192.0.2.1", DEVICE)
    # Its owner signing in does not reopen the account to new devices.
    refused(throttle, ip="192.0.2.1")


def test_failures_on_a_known_device_count_against_that_device_only(throttle):
    fail(throttle, device=DEVICE, times=5)
    assert refused(throttle, device=DEVICE) > 0
    # Not against the place, nor the account: other devices and places go on.
    throttle.check(CODE, IP)
    throttle.check(CODE, IP, "browser-2")
    for n in range(45):
        fail(throttle, account=f"{n:010d}")
    throttle.check(CODE, IP)


def test_a_device_is_limited_per_account(throttle):
    fail(throttle, device=DEVICE, times=5)
    throttle.check(OTHER, IP, DEVICE)


def test_a_known_device_is_slowed_like_a_place(store):
    throttle = LoginThrottle(store, per_device=5, per_account=20, delay_after=2, first_delay=30, window=900)
    fail(throttle, device=DEVICE, times=2)
    assert 0 < refused(throttle, device=DEVICE) <= 30
    throttle.check(CODE, IP)


def test_an_attempt_naming_no_account_is_limited_per_place_only(store):
    throttle = LoginThrottle(store, per_ip=3, per_account_ip=1, per_account=1, window=900)
    fail(throttle, account=None, times=2)
    throttle.check(None, IP)
    throttle.check(CODE, "192.0.2.1")
    fail(throttle, account=None)
    refused(throttle, account=None)


def test_limits_left_unset_are_not_applied(store):
    throttle = LoginThrottle(store, per_ip=None, per_account_ip=3, window=900)
    for n in range(100):
        fail(throttle, account=f"{n:010d}")
    # No account-wide cap, and no per-device limit: a device is then just another browser.
    for n in range(30):
        fail(throttle, ip=f"203.0.113.{n}")
    fail(throttle, device=DEVICE, times=2)
    throttle.check(CODE, IP)
    fail(throttle)
    refused(throttle, device=DEVICE)


# -- success ------------------------------------------------------------------------------------

def test_success_forgets_the_failures_at_that_place_and_device(throttle):
    fail(throttle, times=5)
    fail(throttle, device=DEVICE, times=5)
    throttle.succeeded(CODE, IP, DEVICE)
    throttle.check(CODE, IP)
    throttle.check(CODE, IP, DEVICE)
    fail(throttle, times=4)
    throttle.check(CODE, IP)


def test_success_does_not_clear_the_place(throttle):
    for n in range(50):
        fail(throttle, account=f"{n:010d}")
    throttle.succeeded("0000000049", IP)
    refused(throttle, account="9876543210")


def test_success_does_not_clear_the_account_wide_count(throttle):
    for n in range(19):
        fail(throttle, ip=f"203.0.113.{n}")
    throttle.succeeded(CODE, "192.0.2.1")
    fail(throttle, ip="203.0.113.99")
    refused(throttle, ip="192.0.2.1")


# -- windows and keys ----------------------------------------------------------------------------

def test_block_ends_with_the_window(store):
    throttle = LoginThrottle(store, per_account_ip=2, window=0.3)
    fail(throttle, times=2)
    assert refused(throttle) <= 0.3
    time.sleep(0.4)
    throttle.check(CODE, IP)
    fail(throttle)
    throttle.check(CODE, IP)


def test_failures_outside_the_window_are_forgotten(store):
    throttle = LoginThrottle(store, per_account_ip=2, per_account=2, window=0.3)
    fail(throttle)
    time.sleep(0.4)
    fail(throttle)
    throttle.check(CODE, IP)


def test_store_keys_name_no_national_code_address_or_device(store):
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

        def delete(self, *keys):
            seen.extend(keys)
            store.delete(*keys)

    throttle = LoginThrottle(Recording(), per_account_ip=1, per_device=1, per_account=1)
    fail(throttle)
    fail(throttle, device=DEVICE)
    throttle.succeeded(CODE, IP, DEVICE)
    assert seen and not any(CODE in key or DEVICE in key or IP in key for key in seen)


def test_secret_changes_the_account_key(store):
    plain = LoginThrottle(store, per_account=1)
    keyed = LoginThrottle(store, per_account=1, secret=b"k" * 32)
    fail(plain)
    refused(plain, ip="192.0.2.9")
    keyed.check(CODE, "192.0.2.9")

