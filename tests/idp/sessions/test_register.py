"""The `SessionRegister` contract, run against `SqlSessionRegister` on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from idp.sessions.register import SessionRecord, SessionRegister, SqlSessionRegister

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
FACTORS = (("pwd", T0.timestamp()), ("otp", T0.timestamp() + 0.5))


@pytest.fixture
def register(engine: Engine) -> SessionRegister:
    return SqlSessionRegister(engine)


def record(sid: str = "s1", person: str = "p1", *, key: str | None = None, expires: datetime = T0 + HOUR,
           last_seen: datetime = T0, factors: tuple[tuple[str, float], ...] | None = FACTORS) -> SessionRecord:
    return SessionRecord(sid=sid, person_id=person, store_key=key or f"sess:{sid}", device="Firefox on Linux",
                         ip="192.0.2.1", created_at=T0, last_seen_at=last_seen, expires_at=expires, clients=(),
                         factors=factors)


def test_an_opened_session_reads_back_whole(register: SessionRegister) -> None:
    register.open(record())
    assert register.get("s1") == record()
    assert register.by_store_key("sess:s1") == record()
    got = register.get("s1")
    assert got is not None and got.created_at.tzinfo is not None and got.expires_at.tzinfo is not None
    assert register.is_ended("s1") is False


def test_unknown_sessions(register: SessionRegister) -> None:
    assert register.get("nope") is None
    assert register.by_store_key("sess:nope") is None
    assert register.is_ended("nope") is True  # unknown counts as ended: nothing may be restored from it


def test_a_session_without_factors_keeps_none(register: SessionRegister) -> None:
    register.open(record(factors=None))
    assert register.get("s1").factors is None  # type: ignore[union-attr]


def test_the_device_is_cut_to_200_characters(register: SessionRegister) -> None:
    register.open(replace(record(), device="x" * 300))
    assert register.get("s1").device == "x" * 200  # type: ignore[union-attr]


def test_updates_while_open(register: SessionRegister) -> None:
    register.open(record())
    later = T0 + timedelta(minutes=5)
    assert register.touch("s1", last_seen_at=later, expires_at=later + HOUR, ip="198.51.100.7",
                          factors=FACTORS, acting={"shop": "self"})
    got = register.get("s1")
    assert got is not None and (got.last_seen_at, got.expires_at, got.ip) == (later, later + HOUR, "198.51.100.7")
    assert got.acting == {"shop": "self"}
    assert register.set_clients("s1", ("shop", "bank"), {"shop": "m-1"})
    assert register.set_factors("s1", (("pwd", 5.0),))
    got = register.get("s1")
    assert got is not None and got.clients == ("shop", "bank") and got.acting == {"shop": "m-1"}
    assert got.factors == (("pwd", 5.0),)


def test_rekey_moves_the_session_to_a_new_cookie(register: SessionRegister) -> None:
    register.open(record())
    later = T0 + timedelta(minutes=10)
    assert register.rekey("s1", store_key="sess:new", last_seen_at=later, expires_at=later + HOUR, ip=None,
                          factors=(("pwd", later.timestamp()),))
    assert register.by_store_key("sess:s1") is None
    moved = register.by_store_key("sess:new")
    assert moved is not None and moved.sid == "s1" and moved.last_seen_at == later and moved.ip is None
    assert moved.factors == (("pwd", later.timestamp()),)


def test_close_ends_the_session_once(register: SessionRegister) -> None:
    register.open(record())
    at = T0 + timedelta(minutes=30)
    closed = register.close("s1", reason="signed_out", at=at)
    assert closed is not None and closed.sid == "s1" and closed.ended_at == at and closed.end_reason == "signed_out"
    assert register.is_ended("s1") is True
    assert register.close("s1", reason="again", at=at + HOUR) is None
    assert register.get("s1").end_reason == "signed_out"  # type: ignore[union-attr]
    assert register.close("nope", reason="x", at=at) is None


def test_the_end_reason_is_cut_to_32_characters(register: SessionRegister) -> None:
    register.open(record())
    assert register.close("s1", reason="r" * 40, at=T0).end_reason == "r" * 32  # type: ignore[union-attr]


def test_an_ended_session_takes_no_update(register: SessionRegister) -> None:
    register.open(record())
    register.close("s1", reason="expired", at=T0)
    assert not register.touch("s1", last_seen_at=T0 + HOUR, expires_at=T0 + 2 * HOUR, ip=None, factors=FACTORS,
                              acting={})
    assert not register.rekey("s1", store_key="sess:new", last_seen_at=T0, expires_at=T0 + HOUR, ip=None,
                              factors=FACTORS)
    assert not register.set_clients("s1", ("shop",), {})
    assert not register.set_factors("s1", ())
    assert register.get("s1") == replace(record(), ended_at=T0, end_reason="expired")
    assert not register.touch("nope", last_seen_at=T0, expires_at=T0, ip=None, factors=(), acting={})


def test_of_concurrent_closes_exactly_one_gets_the_session(register: SessionRegister) -> None:
    register.open(record())
    barrier = threading.Barrier(4)
    results: list[SessionRecord | None] = []

    def close() -> None:
        barrier.wait(timeout=5)
        results.append(register.close("s1", reason="everywhere", at=T0))

    threads = [threading.Thread(target=close) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4 and sum(r is not None for r in results) == 1


def test_open_for_lists_the_open_sessions_most_recently_used_first(register: SessionRegister) -> None:
    register.open(record("old", last_seen=T0))
    register.open(record("new", last_seen=T0 + timedelta(minutes=5)))
    register.open(record("ended"))
    register.close("ended", reason="signed_out", at=T0)
    register.open(record("expired", expires=T0 + timedelta(minutes=1)))
    register.open(record("theirs", person="p2"))
    now = T0 + timedelta(minutes=2)
    assert [r.sid for r in register.open_for("p1", now)] == ["new", "old"]
    assert sorted(register.unended_sids("p1")) == ["expired", "new", "old"]
    assert register.open_for("nobody", now) == [] and register.unended_sids("nobody") == []


def test_expired_lists_unended_sessions_past_their_expiry_oldest_first(register: SessionRegister) -> None:
    for i, minutes in enumerate((30, 10, 20)):
        register.open(record(f"e{i}", expires=T0 + timedelta(minutes=minutes)))
    register.open(record("ended", expires=T0))
    register.close("ended", reason="signed_out", at=T0)
    register.open(record("live", expires=T0 + 2 * HOUR))
    now = T0 + HOUR
    assert register.expired(now) == ["e1", "e2", "e0"]
    assert register.expired(now, limit=2) == ["e1", "e2"]
    assert register.expired(T0) == []
