"""The `LogoutOutbox` contract: what any implementation must do, run on every implementation and
backend (SQLite embedded, PostgreSQL in production: the `engine` fixture).

Queueing, listing and reopening as operators see them; claiming and writing outcomes under the
lease rules the deliverer relies on (`test_delivery.py` checks the deliverer over them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from clients.registry import ClientRegistry
from idp.sessions.delivery import DeliveryReport
from idp.sessions.outbox import MAX_ERROR, Claimed, LogoutOutbox, SqlLogoutOutbox
from tests.backchannel import PERSON, SID, Backchannel, only
from tests.clock import Clock
from tests.relying_party import RelyingParty

pytestmark = pytest.mark.pgbouncer  # also behind PgBouncer in transaction mode

LEASE = timedelta(seconds=30)
URI = "https://tax.example/logout"

# Every implementation of the protocol, built on the test database, the registry and the clock.
IMPLEMENTATIONS: dict[str, Callable[[Engine, ClientRegistry, Clock], LogoutOutbox]] = {
    "sql": lambda engine, registry, clock: SqlLogoutOutbox(engine, registry, clock=clock),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def outbox(request: pytest.FixtureRequest, engine: Engine, registry: ClientRegistry, clock: Clock) -> LogoutOutbox:
    for client_id in ("tax", "health"):
        registry.create(client_id=client_id, name=client_id, redirect_uris=[f"https://{client_id}.example/cb"],
                        backchannel_logout_uri=URI)
    return IMPLEMENTATIONS[request.param](engine, registry, clock)


def claim_one(outbox: LogoutOutbox, clock: Clock) -> Claimed:
    claimed = outbox.claim(clock.now, LEASE)
    assert claimed is not None
    return claimed


def test_only_enabled_clients_with_a_backchannel_uri_get_one_row_each(bc: Backchannel, rp: RelyingParty) -> None:
    bc.register("tax", rp.url())
    bc.register("health", rp.url("/health-logout"))
    bc.register("no-uri", None)
    bc.register("off", rp.url("/off"))
    bc.registry.set_enabled("off", False)
    outbox = bc.outbox()

    queued = outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax", "no-uri", "tax", "off", "gone", "health"])

    assert queued == 2
    rows = outbox.deliveries(sid=SID)
    assert sorted((d.client_id, d.uri) for d in rows) == [("health", rp.url("/health-logout")), ("tax", rp.url())]
    assert len({d.jti for d in rows}) == 2
    assert outbox.enqueue(sid="sid-2", person_id=PERSON, client_ids=["no-uri"]) == 0
    assert outbox.deliveries(sid="sid-2") == []
    assert bc.deliverer().deliver_due() == DeliveryReport(delivered=2)
    assert sorted(r.path for r in rp.requests) == ["/backchannel-logout", "/health-logout"]


def test_a_queued_row_is_pending_due_now_with_a_fresh_jti(outbox: LogoutOutbox, clock: Clock) -> None:
    assert outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"]) == 1
    row = only(outbox.deliveries())
    assert (row.client_id, row.uri, row.sid, row.person_id) == ("tax", URI, SID, PERSON)
    assert (row.status, row.attempts, row.last_error, row.delivered_at) == ("pending", 0, None, None)
    assert row.next_attempt_at == row.created_at == clock.now
    assert row.next_attempt_at.tzinfo is not None and row.created_at.tzinfo is not None
    assert len(row.jti) >= 32
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    assert len({d.jti for d in outbox.deliveries()}) == 2


def test_deliveries_are_newest_first_filtered_and_limited(outbox: LogoutOutbox, clock: Clock) -> None:
    for i in range(3):
        outbox.enqueue(sid=f"sid-{i}", person_id=PERSON, client_ids=["tax", "health"])
    assert [d.sid for d in outbox.deliveries()] == ["sid-2", "sid-2", "sid-1", "sid-1", "sid-0", "sid-0"]
    assert [d.id for d in outbox.deliveries()] == sorted((d.id for d in outbox.deliveries()), reverse=True)
    assert {d.client_id for d in outbox.deliveries(sid="sid-1")} == {"tax", "health"}
    assert len(outbox.deliveries(limit=4)) == 4
    outbox.give_up(claim_one(outbox, clock), attempts=1, error="HTTP 500")
    [failed] = outbox.deliveries(status="failed")
    assert failed.sid == "sid-0" and len(outbox.deliveries(status="pending")) == 5
    assert outbox.deliveries(status="delivered") == []
    with pytest.raises(ValueError, match="status must be one of pending, delivered, failed"):
        outbox.deliveries(status="bogus")


def test_claim_takes_the_oldest_due_row_counts_the_attempt_and_hides_it_for_the_lease(
    outbox: LogoutOutbox, clock: Clock
) -> None:
    assert outbox.claim(clock.now, LEASE) is None  # nothing queued
    outbox.enqueue(sid="first", person_id=PERSON, client_ids=["tax"])
    clock.advance(1)
    outbox.enqueue(sid="second", person_id=PERSON, client_ids=["tax"])

    claimed = claim_one(outbox, clock)
    queued = only(outbox.deliveries(sid="first"))
    assert (claimed.id, claimed.client_id, claimed.sid, claimed.person_id, claimed.jti, claimed.attempts) == (
        queued.id, "tax", "first", PERSON, queued.jti, 1)
    assert (queued.status, queued.attempts, queued.next_attempt_at) == ("pending", 1, clock.now + LEASE)
    assert claim_one(outbox, clock).sid == "second"
    assert outbox.claim(clock.now, LEASE) is None  # both leased

    clock.advance(LEASE.total_seconds() - 1)
    assert outbox.claim(clock.now, LEASE) is None
    clock.advance(1)  # the first lease ends: the row is due again, for its second attempt
    again = claim_one(outbox, clock)
    assert (again.id, again.jti, again.attempts) == (claimed.id, claimed.jti, 2)


def test_a_row_is_not_claimed_before_it_is_due(outbox: LogoutOutbox, clock: Clock) -> None:
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    assert outbox.claim(clock.now - timedelta(seconds=1), LEASE) is None
    assert outbox.claim(clock.now, LEASE) is not None


def test_concurrent_claims_take_each_row_once(outbox: LogoutOutbox, clock: Clock) -> None:
    for i in range(12):
        outbox.enqueue(sid=f"sid-{i}", person_id=PERSON, client_ids=["tax"])
    claimed: list[int] = []
    start = threading.Barrier(3)

    def work() -> None:
        start.wait()
        while (row := outbox.claim(clock.now, LEASE)) is not None:
            claimed.append(row.id)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(claimed) == sorted(d.id for d in outbox.deliveries())


def test_a_delivery_is_recorded_even_after_the_row_was_reclaimed(outbox: LogoutOutbox, clock: Clock) -> None:
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    first = claim_one(outbox, clock)
    clock.advance(LEASE.total_seconds())
    claim_one(outbox, clock)  # another worker takes the row over

    assert outbox.mark_delivered(first, at=clock.now, uri="https://tax.example/moved")
    row = only(outbox.deliveries())
    assert (row.status, row.attempts, row.delivered_at, row.uri) == ("delivered", 2, clock.now,
                                                                     "https://tax.example/moved")
    # Delivered is final: nothing more is written, nothing is claimed.
    assert not outbox.mark_delivered(first, at=clock.now, uri=URI)
    assert not outbox.give_up(first, attempts=2, error="late")
    clock.advance(86400)
    assert outbox.claim(clock.now, LEASE) is None


def test_a_reschedule_is_fenced_by_the_attempt_it_claimed(outbox: LogoutOutbox, clock: Clock) -> None:
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    first = claim_one(outbox, clock)
    retry_at = clock.now + timedelta(seconds=10)

    assert outbox.reschedule(first, at=retry_at, error="x" * (MAX_ERROR + 50), uri="https://tax.example/new")
    row = only(outbox.deliveries())
    assert (row.status, row.attempts, row.next_attempt_at, row.uri) == ("pending", 1, retry_at,
                                                                        "https://tax.example/new")
    assert row.last_error == "x" * MAX_ERROR

    clock.advance(10)
    second = claim_one(outbox, clock)
    assert second.attempts == 2
    # The worker of the first attempt is late: it cannot reset the newer schedule or fail the row.
    assert not outbox.reschedule(first, at=clock.now, error="late", uri=URI)
    assert not outbox.give_up(first, attempts=1, error="late")
    assert only(outbox.deliveries()) == replace(row, attempts=2, next_attempt_at=clock.now + LEASE)


def test_give_up_fails_the_row_with_the_attempts_it_is_told(outbox: LogoutOutbox, clock: Clock) -> None:
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax", "health"])
    tax, health = claim_one(outbox, clock), claim_one(outbox, clock)

    assert outbox.give_up(tax, attempts=0, error="client no longer registered")
    assert outbox.give_up(health, attempts=1, error="y" * (MAX_ERROR + 1), uri="https://health.example/new")
    rows = {d.client_id: d for d in outbox.deliveries()}
    assert (rows["tax"].status, rows["tax"].attempts, rows["tax"].last_error, rows["tax"].uri) == (
        "failed", 0, "client no longer registered", URI)  # the queued URI stays when none is given
    assert (rows["health"].status, rows["health"].attempts, rows["health"].uri) == (
        "failed", 1, "https://health.example/new")
    assert rows["health"].last_error == "y" * MAX_ERROR
    clock.advance(86400)
    assert outbox.claim(clock.now, LEASE) is None  # failed is final until reopened


def test_retry_failed_reopens_only_the_named_failures_with_the_same_jti(outbox: LogoutOutbox, clock: Clock) -> None:
    for sid in ("a", "b", "c"):
        outbox.enqueue(sid=sid, person_id=PERSON, client_ids=["tax", "health"])
    for _ in range(5):  # all but the last row fail; that one stays pending
        outbox.give_up(claim_one(outbox, clock), attempts=3, error="HTTP 500")
    before = {d.id: d for d in outbox.deliveries()}
    with pytest.raises(ValueError, match="name the deliveries to retry"):
        outbox.retry_failed()

    clock.advance(60)
    assert outbox.retry_failed(sid="a") == 2
    assert outbox.retry_failed(sid="a") == 0  # no longer failed
    assert outbox.retry_failed(client_id="tax", sid="b") == 1
    c_failed = [d.id for d in before.values() if d.sid == "c" and d.status == "failed"]
    assert outbox.retry_failed(ids=c_failed) == 1
    assert outbox.retry_failed(everything=True) == 1  # b's health row, the last failure

    rows = {d.id: d for d in outbox.deliveries()}
    assert {d.status for d in rows.values()} == {"pending"}
    for id_, row in rows.items():
        assert row.jti == before[id_].jti
        if before[id_].status == "failed":
            assert (row.attempts, row.next_attempt_at) == (0, clock.now)
    assert outbox.retry_failed(everything=True) == 0
