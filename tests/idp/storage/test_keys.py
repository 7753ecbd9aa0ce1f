"""No two kinds of ephemeral record can write the same key, and the typed records keep to their prefix."""

from __future__ import annotations

import inspect
import itertools

import pytest

from idp.storage import keys
from idp.storage.keys import KINDS
from idp.storage.records import JsonRecords, Marks
from idp.storage.store import MemoryStore
from levels.authenticators.sms_otp import SmsOtp
from levels.throttle import LoginThrottle


def test_prefixes_are_distinct() -> None:
    prefixes = [k.prefix for k in KINDS]
    assert len(prefixes) == len(set(prefixes))
    assert all(p.endswith(":") for p in prefixes)


def test_no_kind_can_reach_into_another() -> None:
    for a, b in itertools.permutations(KINDS, 2):
        if b.prefix.startswith(a.prefix):
            # a's keys are a.prefix + an id without ":"; every key of b has a ":" after a.prefix.
            assert a.opaque_ids, (a, b)
            assert ":" in b.prefix[len(a.prefix):], (a, b)


def test_every_prefix_constant_is_listed() -> None:
    listed = {k.prefix for k in KINDS}
    constants = {v for n, v in vars(keys).items() if n.isupper() and isinstance(v, str)}
    namespaces = {v + ":" for n, v in vars(keys).items() if n.endswith("_NS")}
    plain = {c for c in constants if c.endswith(":")}
    assert plain <= listed
    assert {n for n in namespaces if n != keys.REGISTRATION_THROTTLE_NS + ":"} <= listed


def test_domain_defaults_are_the_listed_namespaces() -> None:
    assert inspect.signature(LoginThrottle).parameters["namespace"].default == keys.LOGIN_THROTTLE_NS
    assert inspect.signature(SmsOtp).parameters["namespace"].default == keys.SMS_OTP_NS


class Notes(Marks):
    prefix = keys.CONSENT_MARK


class Documents(JsonRecords[dict[str, int]]):
    prefix = keys.REGISTRATION


def test_records_write_under_their_prefix_and_read_back() -> None:
    store = MemoryStore()
    notes = Notes(store, 60)
    notes.put("tx1", "person-1")
    assert store.get("tx-consent:tx1") == b"person-1"
    assert notes.get("tx1") == "person-1" and 0 < notes.expires_in("tx1") <= 60  # type: ignore[operator]
    assert notes.add("tx1", "other") is False and notes.take("tx1") == "person-1" and notes.get("tx1") is None
    docs = Documents(store, 60)
    docs.put("p1", {"a": 1})
    assert docs.get("p1") == {"a": 1}
    docs.delete("p1")
    assert docs.get("p1") is None


@pytest.mark.parametrize("bad", ["", "ip:abc", "x" * 129, None])
def test_ids_that_cannot_be_records_find_nothing(bad: str | None) -> None:
    store = MemoryStore()
    store.set("register:ip:abc", b"{}", 60)
    docs = Documents(store, 60)
    assert docs.get(bad) is None and docs.take(bad) is None
    assert store.get("register:ip:abc") == b"{}"
    if bad is not None:
        with pytest.raises(ValueError):
            docs.put(bad, {})
