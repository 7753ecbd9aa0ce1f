"""OIDC Back-Channel Logout delivery through the outbox, against a real HTTP server on loopback.

Every test runs on SQLite and on PostgreSQL (the `engine` fixture). Time is an injected clock the
tests move by hand, so the retry schedule is checked without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import typer
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import Engine
from typer.testing import CliRunner

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.audit import AuditLog
from idp.cli.logout import build_app
from idp.sessions.backchannel import (
    BACKCHANNEL_LOGOUT_EVENT,
    CLIENT_GONE,
    INTERRUPTED,
    Delivery,
    DeliveryReport,
    LogoutDeliverer,
    LogoutOutbox,
    LogoutTokens,
    make_backchannel,
    run_deliveries,
)
from idp.settings import Settings
from idp.storage.database import make_engine
from keys.encryption import KeyEncryptor
from keys.keyring import KeyRing
from keys.store_sql import SqlKeyStore
from tests.clock import Clock
from tests.relying_party import RelyingParty, claims_unverified

ISSUER = "https://idp.test"
KEK = bytes(range(32))
PERSON = "person-1"
SID = "sid-1"
# For behaviour with no storage rules of its own (signing, HTTP handling, the CLI): SQLite is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keyring(engine: Engine) -> KeyRing:
    ring = KeyRing(SqlKeyStore(engine), KeyEncryptor(KEK), reload_interval=3600)
    ring.ensure(["ES256"])
    return ring


@pytest.fixture
def registry(engine: Engine) -> ClientRegistry:
    return ClientRegistry(SqlClientStore(engine), cache_ttl=0)


@pytest.fixture
def audit(engine: Engine, clock: Clock) -> AuditLog:
    return AuditLog(engine, clock=clock)


class Backchannel:
    """Builds outboxes and deliverers on one database, as a server process would at start."""

    def __init__(self, engine: Engine, keyring: KeyRing, registry: ClientRegistry, audit: AuditLog,
                 clock: Clock) -> None:
        self.engine, self.keyring, self.registry, self.audit, self.clock = engine, keyring, registry, audit, clock
        self._opened: list[LogoutDeliverer] = []

    def outbox(self) -> LogoutOutbox:
        return LogoutOutbox(self.engine, self.registry, clock=self.clock)

    def deliverer(self, *, transport: httpx.BaseTransport | None = None, **kwargs: object) -> LogoutDeliverer:
        kwargs.setdefault("timeout", 2.0)
        tokens = LogoutTokens(self.keyring, ISSUER, clock=self.clock.epoch)
        http = httpx.Client(trust_env=False, transport=transport)
        deliverer = LogoutDeliverer(self.engine, tokens, self.registry, http, self.audit,
                                    clock=self.clock, **kwargs)  # type: ignore[arg-type]
        self._opened.append(deliverer)
        return deliverer

    def register(self, client_id: str, uri: str | None, **fields: object) -> None:
        self.registry.create(client_id=client_id, name=client_id, redirect_uris=[f"https://{client_id}.example/cb"],
                             backchannel_logout_uri=uri, **fields)  # type: ignore[arg-type]

    def close(self) -> None:
        for deliverer in self._opened:
            deliverer.close()


@pytest.fixture
def bc(
    engine: Engine, keyring: KeyRing, registry: ClientRegistry, audit: AuditLog, clock: Clock
) -> Iterator[Backchannel]:
    backchannel = Backchannel(engine, keyring, registry, audit, clock)
    yield backchannel
    backchannel.close()


def only(deliveries: list[Delivery]) -> Delivery:
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


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


@sqlite_only
def test_token_is_signed_with_the_clients_id_token_alg(bc: Backchannel, rp: RelyingParty, keyring: KeyRing) -> None:
    keyring.ensure(["RS256"])
    bc.register("rsa-portal", rp.url(), id_token_signed_response_alg="RS256")
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["rsa-portal"])
    assert bc.deliverer().deliver_due().delivered == 1
    token = jwt.decode(rp.requests[0].token, KeySet.import_key_set(keyring.jwks()), algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["typ"] == "logout+jwt"


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
def test_cli_lists_pending_and_failed_and_delivers_on_demand(
    bc: Backchannel, rp: RelyingParty, clock: Clock
) -> None:
    rp.default = 500
    bc.register("tax", rp.url())
    bc.register("health", rp.url("/health"))
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    app: typer.Typer = build_app(lambda: (bc.outbox(), bc.deliverer(max_attempts=1)))
    runner = CliRunner()

    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "CLIENT", "SID", "STATUS", "ATTEMPTS", "NEXT_ATTEMPT", "LAST_ERROR"]
    assert row.split()[1:5] == ["tax", SID, "pending", "0"]

    delivered = runner.invoke(app, ["deliver", "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout) == {"delivered": 0, "retried": 0, "failed": 1}

    failed = runner.invoke(app, ["list", "--status", "failed"])
    assert "tax" in failed.stdout and "failed" in failed.stdout and "HTTP 500" in failed.stdout
    assert "No back-channel" in runner.invoke(app, ["list", "--status", "pending"]).stdout
    [shown] = json.loads(runner.invoke(app, ["list", "--sid", SID, "--json"]).stdout)
    assert (shown["client_id"], shown["status"], shown["attempts"], shown["last_error"]) == ("tax", "failed", 1,
                                                                                             "HTTP 500")

    # After the portal is fixed, an operator reopens the failure and it goes out with the same jti.
    assert runner.invoke(app, ["retry"]).exit_code == 2  # refuses to guess what to reopen
    reopened = runner.invoke(app, ["retry", "--client", "tax"])
    assert reopened.exit_code == 0 and "Reopened 1" in reopened.stdout
    rp.default = 200
    again = runner.invoke(app, ["deliver"])
    assert again.stdout.strip() == "Delivered 1, to retry 0, failed 0."
    assert len(set(rp.jtis())) == 1 and len(rp.requests) == 2
    assert runner.invoke(app, ["list", "--status", "bogus"]).exit_code == 2


def test_background_loop_survives_errors_runs_off_the_event_loop_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    class FlakyDeliverer:
        def deliver_due(self, limit: int = 100, *, should_stop: object = None) -> DeliveryReport:
            calls.append(threading.current_thread().name)
            if len(calls) == 1:
                raise RuntimeError("database went away")
            return DeliveryReport(delivered=1)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_deliveries(FlakyDeliverer(), interval=0.01, stop=stop))  # type: ignore[arg-type]
        while len(calls) < 3:
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 2)
        assert threading.current_thread().name not in calls  # passes ran in worker threads

    with caplog.at_level(logging.ERROR, logger="idp.sessions.backchannel"):
        asyncio.run(main())
    assert len(calls) >= 3
    assert "delivery pass failed" in caplog.text and "database went away" in caplog.text


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
