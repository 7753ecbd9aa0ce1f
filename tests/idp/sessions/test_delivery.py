"""OIDC Back-Channel Logout delivery through the outbox, against a real HTTP server on loopback.

Every test runs on SQLite and on PostgreSQL (the `engine` fixture) unless marked `sqlite_only`. Time
is an injected clock the tests move by hand, so the retry schedule is checked without sleeping.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import Engine

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.audit import AuditLog
from idp.sessions.delivery import CLIENT_GONE, INTERRUPTED, DeliveryReport, LogoutDeliverer, make_backchannel
from idp.sessions.logout_token import BACKCHANNEL_LOGOUT_EVENT
from idp.settings import Settings
from idp.storage.database import make_engine
from keys.encryption import KeyEncryptor
from keys.keyring import KeyRing
from keys.store_sql import SqlKeyStore
from tests.backchannel import ISSUER, KEK, PERSON, SID, Backchannel, only, sqlite_only
from tests.clock import Clock
from tests.relying_party import RelyingParty, claims_unverified


def test_delivered_token_verifies_against_our_jwks_and_is_the_only_form_field(
    bc: Backchannel, rp: RelyingParty, keyring: KeyRing, clock: Clock, audit: AuditLog
) -> None:
    bc.register("tax", rp.url())
    outbox, deliverer = bc.outbox(), bc.deliverer()
    assert outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"]) == 1
    queued = only(outbox.deliveries(sid=SID))
    assert (queued.status, queued.attempts, queued.next_attempt_at) == ("pending", 0, clock.now)

    assert deliverer.deliver_due() == DeliveryReport(delivered=1)

    [request] = rp.requests
    assert (request.method, request.path) == ("POST", "/backchannel-logout")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert list(request.form) == ["logout_token"]
    token = jwt.decode(request.token, KeySet.import_key_set(keyring.jwks()), algorithms=["ES256"])
    assert token.header["typ"] == "logout+jwt" and token.header["kid"]
    claims = token.claims
    jwt.JWTClaimsRegistry(
        now=int(clock.epoch()), iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": "tax"},
    ).validate(claims)
    assert claims["aud"] == "tax"
    assert (claims["sub"], claims["sid"], claims["jti"]) == (PERSON, SID, queued.jti)
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert claims["iat"] == int(clock.epoch()) and claims["exp"] == claims["iat"] + 120
    assert "nonce" not in claims

    done = only(outbox.deliveries(sid=SID))
    assert (done.status, done.attempts, done.delivered_at) == ("delivered", 1, clock.now)
    event = only(audit.recent(kind="logout.backchannel_delivered"))  # type: ignore[arg-type]
    assert (event.client_id, event.person_id, event.detail) == ("tax", PERSON, {"sid": SID})
    # Delivered is final: later passes send nothing.
    clock.advance(3600)
    assert deliverer.deliver_due() == DeliveryReport()
    assert len(rp.requests) == 1


def test_failing_endpoint_is_retried_with_growing_delays_then_failed_and_audited(
    bc: Backchannel, rp: RelyingParty, clock: Clock, audit: AuditLog
) -> None:
    rp.default = 500
    bc.register("tax", rp.url())
    outbox = bc.outbox()
    deliverer = bc.deliverer(max_attempts=4, base_delay=10, max_delay=30)
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    # Delays after attempts 1, 2, 3: 10, 20, then 40 capped to 30 seconds.
    for attempt, delay in ((1, 10), (2, 20), (3, 30)):
        assert deliverer.deliver_due() == DeliveryReport(retried=1)
        row = only(outbox.deliveries(sid=SID))
        assert (row.status, row.attempts, row.last_error) == ("pending", attempt, "HTTP 500")
        assert row.next_attempt_at == clock.now + timedelta(seconds=delay)
        clock.advance(delay - 1)
        assert deliverer.deliver_due() == DeliveryReport()  # not due yet: nothing is sent
        assert len(rp.requests) == attempt
        clock.advance(1)

    assert deliverer.deliver_due() == DeliveryReport(failed=1)
    row = only(outbox.deliveries(sid=SID))
    assert (row.status, row.attempts, row.last_error) == ("failed", 4, "HTTP 500")
    assert not any(r.token in str(row) for r in rp.requests)  # the token is never stored
    assert len(set(rp.jtis())) == 1 and rp.jtis()[0] == row.jti  # the same jti on every attempt
    event = only(audit.recent(kind="logout.backchannel_failed"))  # type: ignore[arg-type]
    assert (event.client_id, event.person_id) == ("tax", PERSON)
    assert event.detail == {"sid": SID, "attempts": 4, "last_error": "HTTP 500"}
    assert audit.recent(kind="logout.backchannel_delivered") == []
    # Failed is final: no more sends, however long we wait.
    clock.advance(86400)
    assert deliverer.deliver_due() == DeliveryReport()
    assert len(rp.requests) == 4


def test_endpoint_that_recovers_before_the_last_attempt_gets_the_same_jti(
    bc: Backchannel, rp: RelyingParty, clock: Clock, audit: AuditLog
) -> None:
    rp.statuses = [500, 503]
    rp.default = 204  # §2.8: some frameworks answer an empty 200 as 204
    bc.register("tax", rp.url())
    outbox, deliverer = bc.outbox(), bc.deliverer(max_attempts=3, base_delay=5)
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    assert deliverer.deliver_due() == DeliveryReport(retried=1)
    clock.advance(5)
    assert deliverer.deliver_due() == DeliveryReport(retried=1)
    assert only(outbox.deliveries()).last_error == "HTTP 503"
    clock.advance(10)
    assert deliverer.deliver_due() == DeliveryReport(delivered=1)

    row = only(outbox.deliveries())
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, clock.now)
    assert rp.jtis() == [row.jti] * 3
    assert [e.kind for e in audit.recent()] == ["logout.backchannel_delivered"]


def test_redirect_is_not_followed_and_counts_as_a_failure(bc: Backchannel, rp: RelyingParty) -> None:
    rp.statuses = [302]
    bc.register("tax", rp.url())
    outbox, deliverer = bc.outbox(), bc.deliverer()
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    assert deliverer.deliver_due() == DeliveryReport(retried=1)

    assert [(r.method, r.path) for r in rp.requests] == [("POST", "/backchannel-logout")]  # never /elsewhere
    row = only(outbox.deliveries())
    assert row.status == "pending" and row.last_error is not None and "302" in row.last_error


@sqlite_only
def test_unreachable_endpoint_is_retried_with_the_error_class_recorded(bc: Backchannel, clock: Clock) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bc.register("tax", f"http://127.0.0.1:{port}/logout")
    outbox, deliverer = bc.outbox(), bc.deliverer()
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    assert deliverer.deliver_due() == DeliveryReport(retried=1)

    row = only(outbox.deliveries())
    assert row.last_error == "ConnectError"
    assert row.next_attempt_at == clock.now + timedelta(seconds=10)


@sqlite_only
def test_client_disabled_or_deleted_after_enqueue_is_failed_without_a_request(
    bc: Backchannel, rp: RelyingParty, audit: AuditLog
) -> None:
    bc.register("tax", rp.url())
    bc.register("health", rp.url())
    outbox = bc.outbox()
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax", "health"])
    bc.registry.set_enabled("tax", False)
    bc.registry.delete("health")

    assert bc.deliverer().deliver_due() == DeliveryReport(failed=2)

    assert rp.requests == []
    rows = outbox.deliveries()
    assert {(d.status, d.attempts, d.last_error) for d in rows} == {("failed", 0, CLIENT_GONE)}
    assert sorted(e.client_id for e in audit.recent(kind="logout.backchannel_failed")) == ["health", "tax"]


def test_queued_notifications_survive_a_restart_and_a_crash_mid_send(
    bc: Backchannel, rp: RelyingParty, engine: Engine, clock: Clock
) -> None:
    bc.register("tax", rp.url())
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    class Crash(BaseException):
        """The process dying while the request is in flight."""

    sent: list[str] = []

    def die(request: httpx.Request) -> httpx.Response:
        sent.append(parse_qs(request.content.decode())["logout_token"][0])
        raise Crash

    with pytest.raises(Crash):
        bc.deliverer(transport=httpx.MockTransport(die), timeout=5.0).deliver_due()

    # A new process on the same database: new engine, registry, keys, outbox and deliverer.
    url = engine.url.render_as_string(hide_password=False)
    engine2 = make_engine(url)
    try:
        registry2 = ClientRegistry(SqlClientStore(engine2), cache_ttl=0)
        keyring2 = KeyRing(SqlKeyStore(engine2), KeyEncryptor(KEK))
        restarted = Backchannel(engine2, keyring2, registry2, AuditLog(engine2, clock=clock), clock)
        outbox2, deliverer2 = restarted.outbox(), restarted.deliverer(timeout=5.0)
        row = only(outbox2.deliveries())
        assert (row.status, row.attempts) == ("pending", 1)  # the interrupted attempt counts

        # The claim is a lease (60 s + 4 x timeout): the row is not resent while it might still be in flight.
        clock.advance(79)
        assert deliverer2.deliver_due() == DeliveryReport()
        clock.advance(1)
        assert deliverer2.deliver_due() == DeliveryReport(delivered=1)
        assert rp.jtis() == [claims_unverified(sent[0])["jti"]] == [row.jti]
        assert only(outbox2.deliveries()).attempts == 2
        restarted.close()
    finally:
        engine2.dispose()


@sqlite_only
def test_a_crash_during_the_last_attempt_gives_up_after_the_lease(
    bc: Backchannel, rp: RelyingParty, clock: Clock, audit: AuditLog
) -> None:
    bc.register("tax", rp.url())
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])

    def die(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bc.deliverer(transport=httpx.MockTransport(die), max_attempts=1, lease=30).deliver_due()
    clock.advance(30)

    assert bc.deliverer(max_attempts=1).deliver_due() == DeliveryReport(failed=1)
    row = only(bc.outbox().deliveries())
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, INTERRUPTED)
    assert rp.requests == []
    assert only(audit.recent(kind="logout.backchannel_failed")).detail["last_error"] == INTERRUPTED  # type: ignore[arg-type]


def test_concurrent_workers_send_each_notification_once(bc: Backchannel, rp: RelyingParty) -> None:
    rp.delay = 0.01
    bc.register("tax", rp.url())
    outbox = bc.outbox()
    for i in range(16):
        outbox.enqueue(sid=f"sid-{i}", person_id=PERSON, client_ids=["tax"])
    workers = [bc.deliverer() for _ in range(3)]
    reports: list[DeliveryReport] = []
    start = threading.Barrier(len(workers))

    def work(deliverer: LogoutDeliverer) -> None:
        start.wait()
        reports.append(deliverer.deliver_due())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    assert sum(r.delivered for r in reports) == 16
    assert sorted(rp.jtis()) == sorted(d.jti for d in outbox.deliveries())
    assert {d.status for d in outbox.deliveries()} == {"delivered"}


@sqlite_only  # SQLite's pool has one connection: this also shows no transaction is held while sending
@pytest.mark.parametrize(
    ("late", "takeover", "status", "slow_report"),
    [
        (500, 200, "delivered", DeliveryReport()),  # a late failure does not undo the delivery
        (200, 500, "delivered", DeliveryReport(delivered=1)),  # a late success still counts
        (500, 500, "pending", DeliveryReport()),  # a late failure does not reset the newer schedule
    ],
)
def test_a_worker_that_overran_its_lease_cannot_overwrite_newer_state(
    bc: Backchannel, rp: RelyingParty, clock: Clock, late: int, takeover: int, status: str,
    slow_report: DeliveryReport,
) -> None:
    rp.hold = threading.Event()
    rp.statuses = [late, takeover]
    bc.register("tax", rp.url())
    outbox = bc.outbox()
    outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    slow, fast = bc.deliverer(lease=10), bc.deliverer(lease=10)
    reports: list[DeliveryReport] = []
    slow_worker = threading.Thread(target=lambda: reports.append(slow.deliver_due()))
    slow_worker.start()
    try:
        for _ in range(500):  # until the slow worker's request is in flight
            if rp.requests:
                break
            time.sleep(0.01)
        assert len(rp.requests) == 1
        clock.advance(10)  # its lease runs out: another worker takes the row over
        fast.deliver_due()
        taken_over = only(outbox.deliveries())
    finally:
        rp.hold.set()
        slow_worker.join(5)

    assert reports == [slow_report]
    row = only(outbox.deliveries())
    assert (row.status, row.attempts) == (status, 2)
    if status == "pending":
        assert row == taken_over and row.next_attempt_at == clock.now + timedelta(seconds=20)
    assert rp.jtis() == [row.jti] * 2


@sqlite_only
def test_factory_builds_from_settings(engine: Engine, keyring: KeyRing, registry: ClientRegistry,
                                      audit: AuditLog, rp: RelyingParty) -> None:
    settings = Settings(issuer=ISSUER, database_url="sqlite://", backchannel_max_attempts=3,
                        backchannel_timeout=1.5)
    outbox, deliverer = make_backchannel(settings, engine, keyring, registry, audit)
    try:
        registry.create(client_id="tax", name="tax", redirect_uris=["https://tax.example/cb"],
                        backchannel_logout_uri=rp.url())
        outbox.enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
        assert deliverer.max_attempts == 3
        assert deliverer.deliver_due().delivered == 1
        assert claims_unverified(rp.requests[0].token)["iss"] == ISSUER
    finally:
        deliverer.close()
    with pytest.raises(ValueError, match="backchannel_timeout"):
        Settings(backchannel_timeout=0)
