"""Backend outages, injected into real servers: the provider runs under uvicorn on a loopback socket,
with a private redis-server (paused, killed, restarted empty) or a private Redis Cluster (one primary
paused or killed), and PostgreSQL behind a TCP proxy (cut, restored). What is asserted is what a
portal, an agency back end or a person would see."""

from __future__ import annotations

import base64
import logging
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from sqlalchemy import text

from idp.services import Services
from idp.settings import Settings
from idp.storage.database import PING_IF_IDLE, breaker_of
from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.backends import postgres_database
from tests.faults import RedisServer, TcpProxy, postgres_behind_proxy, redis_server
from tests.idp.browser.harness import serve
from tests.idp.conftest import PASSWORD, REDIRECT_URI, Idp, pkce_pair, sign_in
from tests.idp.conftest import _build as build_idp
from tests.idp.conftest import _settings as idp_settings
from tests.idp.flows import assertion_grant, authorization_params, register_signer
from tests.idp.oauth.dpop_proofs import new_key, proof
from tests.redis_cluster import LocalCluster, local_cluster
from tests.relying_party import claims_unverified

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_TIMEOUT = 0.3
# For the checks that tell "answered at once" from "waited for Redis": a wait long enough that a
# loaded machine's ordinary slowness is never mistaken for it, and the other way round.
SLOW_REDIS_TIMEOUT = 1.5
BREAKER_INTERVAL = 3.0  # long enough that no probe falls inside a test's "answers at once" checks
# How long the nodes of a private cluster take to mark a silent one failed (then the cluster answers
# CLUSTERDOWN) and, once it is back, to take it in again: short, so a test sees both.
CLUSTER_NODE_TIMEOUT_MS = 1000


@dataclass
class Backends:
    redis: RedisServer | LocalCluster
    proxy: TcpProxy
    database_url: str  # through the proxy


@dataclass
class Provider:
    base_url: str
    services: Services
    national_code: str
    portal_secret: str
    machine_secret: str

    def client(self) -> httpx.Client:
        """A browser: keeps cookies, follows no redirects."""
        return httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=10)

    def authorize_url(self, scope: str = "openid profile offline_access") -> tuple[str, str]:
        verifier, challenge = pkce_pair()
        query = httpx.QueryParams({
            "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": scope,
            "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256",
        })
        return f"/authorize?{query}", verifier

    def portal(self) -> OAuth2Client:
        return OAuth2Client("portal", self.portal_secret, base_url=self.base_url, timeout=10)

    def machine_token(self) -> httpx.Response:
        return httpx.post(f"{self.base_url}/token", auth=("backend", self.machine_secret),
                          data={"grant_type": "client_credentials"}, timeout=10)


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[Backends]:
    with redis_server(tmp_path) as redis, postgres_database(migrated=True) as url, \
            postgres_behind_proxy(url) as (proxied, proxy):
        yield Backends(redis, proxy, proxied)


@pytest.fixture
def cluster_backends(tmp_path: Path) -> Iterator[Backends]:
    """Like `backends`, with a Redis Cluster of its own instead of one redis-server."""
    (tmp_path / "cluster").mkdir()
    with local_cluster(tmp_path / "cluster", node_timeout_ms=CLUSTER_NODE_TIMEOUT_MS) as cluster, \
            postgres_database(migrated=True) as url, postgres_behind_proxy(url) as (proxied, proxy):
        yield Backends(cluster, proxy, proxied)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _settings(backends: Backends, issuer: str, kek: str, tmp_path: Path, breaker_interval: float,
              redis_timeout: float = REDIS_TIMEOUT) -> Settings:
    return Settings(
        issuer=issuer, database_url=backends.database_url, redis_url=backends.redis.url, kek=kek,
        argon2_memory_kib=1024, argon2_time_cost=1, client_cache_ttl=0, sms_outbox=tmp_path / "sms.jsonl",
        background_tasks=False, redis_timeout=redis_timeout, redis_breaker_interval=breaker_interval,
        database_breaker_interval=breaker_interval,
    )


@contextmanager
def providers(backends: Backends, tmp_path: Path, count: int = 1,
              breaker_interval: float = BREAKER_INTERVAL,
              redis_timeout: float = REDIS_TIMEOUT) -> Iterator[list[Provider]]:
    """`count` provider instances (separate apps, services and uvicorn servers) on one PostgreSQL
    and one Redis, all serving the same issuer, as behind a load balancer."""
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    socks = [_listening_socket() for _ in range(count)]
    issuer = f"http://127.0.0.1:{socks[0].getsockname()[1]}"
    with ExitStack() as stack:
        instances = []
        for sock in socks:
            svc = Services.build(_settings(backends, issuer, kek, tmp_path, breaker_interval, redis_timeout))
            stack.callback(svc.engine.dispose)
            stack.enter_context(serve(create_app(svc.settings, services=svc), sock))
            instances.append((f"http://127.0.0.1:{sock.getsockname()[1]}", svc))
        svc = instances[0][1]
        _, portal_secret = svc.clients.create(
            client_id="portal", name="Tax portal", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"], scopes=["openid", "profile", "offline_access"],
        )
        _, machine_secret = svc.clients.create(
            client_id="backend", name="Inquiry back end", redirect_uris=[], grant_types=["client_credentials"],
            scopes=["inquiry.read"], audiences=["https://api.example"],
        )
        code = make_national_code("001234567")
        person = new_person(code, "Sara", "Ahmadi", birthdate=date(1990, 3, 21), mobile="+989121234567",
                            mobile_verified=True, now=datetime.now(UTC))
        svc.people.add(person)
        svc.people.set_password_hash(person.id, svc.passwords.hash(PASSWORD), datetime.now(UTC))
        yield [Provider(url, s, code, portal_secret or "", machine_secret or "") for url, s in instances]


@pytest.fixture
def provider(backends: Backends, tmp_path: Path) -> Iterator[Provider]:
    with providers(backends, tmp_path) as (one,):
        yield one


def _signed_in_tokens(provider: Provider, browser: httpx.Client | None = None) -> dict[str, object]:
    """Sign in through the pages and exchange the code: the portal's tokens."""
    browser = browser or provider.client()
    url, verifier = provider.authorize_url()
    r = sign_in(browser, url, provider.national_code)  # type: ignore[arg-type]
    assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI), r.text
    code = httpx.URL(r.headers["location"]).params["code"]
    return dict(provider.portal().fetch_token(f"{provider.base_url}/token", grant_type="authorization_code",
                                              code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier))


def _assert_unavailable_json(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"] == "temporarily_unavailable" and r.json()["error_description"]
    assert int(r.headers["retry-after"]) >= 1


def _assert_unavailable_page(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert int(r.headers["retry-after"]) >= 1
    assert "سامانه موقتاً در دسترس نیست" in r.text and "دوباره امتحان کنید" in r.text  # Persian by default
    assert "Traceback" not in r.text


def _until(predicate: object, timeout: float = BREAKER_INTERVAL + 5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def _discovery_answers(client: httpx.Client, seconds: float) -> int:
    served = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert client.get("/.well-known/openid-configuration").status_code == 200
        served += 1
    return served


def test_discovery_keeps_answering_while_redis_hangs(backends: Backends, provider: Provider) -> None:
    # Against the same machine a moment earlier, so that how busy it is does not decide the outcome.
    with httpx.Client(base_url=provider.base_url, timeout=5) as client:
        usual = _discovery_answers(client, 2.0)
    backends.redis.pause()
    try:
        stuck: list[httpx.Response] = []

        def start_sign_in() -> None:
            # Starting a sign-in writes a login transaction to Redis: these wait for it.
            with provider.client() as browser:
                stuck.append(browser.get(provider.authorize_url()[0]))

        waiting = [threading.Thread(target=start_sign_in) for _ in range(6)]
        for t in waiting:
            t.start()
        with httpx.Client(base_url=provider.base_url, timeout=5) as client:
            served = _discovery_answers(client, 2.0)
        for t in waiting:
            t.join(timeout=10)
        # Sign-ins stuck on Redis hold worker threads, never the event loop: discovery keeps its pace.
        assert served >= usual / 3
        assert len(stuck) == 6 and all(r.status_code == 503 for r in stuck)
        for r in stuck:
            _assert_unavailable_page(r)
    finally:
        backends.redis.resume()


def test_requests_needing_a_hung_redis_get_503_at_once_after_the_first_timeout(
        backends: Backends, tmp_path: Path) -> None:
    with providers(backends, tmp_path, redis_timeout=SLOW_REDIS_TIMEOUT) as (provider,):
        _first_timeout_then_at_once(backends, provider)


def _first_timeout_then_at_once(backends: Backends, provider: Provider) -> None:
    browser = provider.client()
    assert browser.get(provider.authorize_url()[0]).status_code == 302
    backends.redis.pause()
    try:
        started = time.monotonic()
        _assert_unavailable_page(browser.get(provider.authorize_url()[0]))
        assert time.monotonic() - started < SLOW_REDIS_TIMEOUT * 2  # one bounded timeout, no retries
        for _ in range(5):
            started = time.monotonic()
            _assert_unavailable_page(browser.get(provider.authorize_url()[0]))
            assert time.monotonic() - started < SLOW_REDIS_TIMEOUT / 3  # the breaker is open: no waiting on Redis
        json_client = httpx.Client(base_url=provider.base_url, headers={"accept": "application/json"})
        _assert_unavailable_json(json_client.get(provider.authorize_url()[0]))
    finally:
        backends.redis.resume()
    # Back after the breaker's interval, without restarting the provider.
    _until(lambda: browser.get(provider.authorize_url()[0]).status_code == 302)
    assert _signed_in_tokens(provider)["id_token"]


def test_redis_restarted_empty_is_used_again_without_restarting_the_provider(
        backends: Backends, provider: Provider) -> None:
    browser = provider.client()
    assert browser.get(provider.authorize_url()[0]).status_code == 302
    backends.redis.kill()
    _assert_unavailable_page(browser.get(provider.authorize_url()[0]))
    backends.redis.start()
    _until(lambda: browser.get(provider.authorize_url()[0]).status_code == 302)
    assert _signed_in_tokens(provider)["access_token"]


def test_refresh_and_client_credentials_work_while_redis_is_down(backends: Backends, provider: Provider) -> None:
    tokens = _signed_in_tokens(provider)
    backends.redis.kill()
    refreshed = provider.portal().refresh_token(f"{provider.base_url}/token",
                                                refresh_token=str(tokens["refresh_token"]))
    assert refreshed["access_token"] and refreshed["refresh_token"] != tokens["refresh_token"]
    r = provider.machine_token()
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    # A wrong secret is still refused (the failure count is what fails open, not the check).
    r = httpx.post(f"{provider.base_url}/token", auth=("backend", "wrong"),
                   data={"grant_type": "client_credentials"})
    assert r.status_code == 401
    # Revocations live in PostgreSQL: userinfo and introspection answer, and a token revoked while
    # Redis is down is refused at once.
    access = str(refreshed["access_token"])
    bearer = {"Authorization": f"Bearer {access}"}
    assert httpx.get(f"{provider.base_url}/userinfo", headers=bearer).status_code == 200
    portal = ("portal", provider.portal_secret)
    assert httpx.post(f"{provider.base_url}/introspect", auth=portal, data={"token": access}).json()["active"] is True
    assert httpx.post(f"{provider.base_url}/revoke", auth=portal, data={"token": access}).status_code == 200
    assert httpx.post(f"{provider.base_url}/introspect", auth=portal, data={"token": access}).json() == {
        "active": False}
    assert httpx.get(f"{provider.base_url}/userinfo", headers=bearer).status_code == 401
    # Signing in needs Redis (login transactions, codes): a page that says so.
    _assert_unavailable_page(provider.client().get(provider.authorize_url()[0]))


def test_private_key_jwt_works_and_cannot_be_replayed_while_redis_is_down(
        backends: Backends, provider: Provider) -> None:
    key = register_signer(provider.services.clients)
    backends.redis.kill()
    form = assertion_grant(key, f"{provider.base_url}/token")
    first = httpx.post(f"{provider.base_url}/token", data=form, timeout=10)
    assert first.status_code == 200, first.text
    replayed = httpx.post(f"{provider.base_url}/token", data=form, timeout=10)
    assert replayed.status_code == 401 and "already used" in replayed.json()["error_description"]


def test_a_dpop_proof_while_redis_is_down_is_answered_503_never_accepted_unchecked(
        backends: Backends, provider: Provider) -> None:
    # A proof's jti is claimed in the store (idp.oauth.dpop): without it a replay could not be
    # told apart, so the request waits for the store rather than going unchecked.
    token_url = f"{provider.base_url}/token"
    backends.redis.kill()
    r = httpx.post(token_url, auth=("backend", provider.machine_secret), data={"grant_type": "client_credentials"},
                   headers={"DPoP": proof(new_key(), "POST", token_url)}, timeout=10)
    _assert_unavailable_json(r)
    assert r.headers["retry-after"]
    backends.redis.start()
    _until(lambda: httpx.post(token_url, auth=("backend", provider.machine_secret),
                              data={"grant_type": "client_credentials"},
                              headers={"DPoP": proof(new_key(), "POST", token_url)}).status_code == 200)


def test_a_session_ended_while_redis_hangs_is_revoked_and_yields_no_more_tokens(
        backends: Backends, provider: Provider) -> None:
    browser = provider.client()
    tokens = _signed_in_tokens(provider, browser)
    sid = str(claims_unverified(str(tokens["id_token"]))["sid"])
    backends.redis.pause()
    try:
        # An operator's sign-out (or the expiry sweep) while the store cannot delete its copy.
        assert provider.services.logout.end(sid, reason="signed_out", actor="operator:test") is not None
    finally:
        backends.redis.resume()
    assert [e.detail["sid"] for e in provider.services.audit.recent(kind="session.ended")] == [sid]
    token_url = f"{provider.base_url}/token"
    refused = httpx.post(token_url, auth=("portal", provider.portal_secret),
                         data={"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert httpx.get(f"{provider.base_url}/userinfo", headers=bearer).status_code == 401
    time.sleep(BREAKER_INTERVAL)  # Redis answers again, still holding the session's copy
    url, verifier = provider.authorize_url()
    r = browser.get(url + "&prompt=none")
    assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI)
    answer = httpx.URL(r.headers["location"]).params
    if "code" in answer:  # the copy may still open /authorize, but its code buys nothing
        exchanged = httpx.post(token_url, auth=("portal", provider.portal_secret), data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier})
        assert exchanged.status_code == 400 and exchanged.json()["error"] == "invalid_grant", exchanged.text
    else:
        assert answer["error"] == "login_required"


def test_postgres_cut_answers_503_and_the_first_request_after_restore_succeeds(
        backends: Backends, provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    tokens = _signed_in_tokens(provider)
    caplog.clear()
    backends.proxy.cut()
    r = httpx.post(f"{provider.base_url}/token", auth=("portal", provider.portal_secret),
                   data={"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])})
    _assert_unavailable_json(r)
    started = time.monotonic()
    _assert_unavailable_json(provider.machine_token())
    assert time.monotonic() - started < 0.5
    _assert_unavailable_page(provider.client().get(provider.authorize_url()[0]))
    english = provider.client().get(provider.authorize_url()[0] + "&lang=en")
    assert english.status_code == 503 and "The service is temporarily unavailable" in english.text
    ready = httpx.get(f"{provider.base_url}/readyz")
    assert ready.status_code == 503 and int(ready.headers["retry-after"]) >= 1
    assert httpx.get(f"{provider.base_url}/healthz").status_code == 200
    # The operator's log: one line saying the database is down, no tracebacks.
    assert [r.name for r in caplog.records if r.levelno >= logging.ERROR] == ["idp.backends"]
    assert not [r for r in caplog.records if r.exc_info]
    backends.proxy.restore()
    time.sleep(BREAKER_INTERVAL)  # the breaker lets the next request probe the database
    r = httpx.post(f"{provider.base_url}/token", auth=("portal", provider.portal_secret),
                   data={"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])})
    assert r.status_code == 200, r.text
    assert httpx.get(f"{provider.base_url}/readyz").status_code == 200


def test_pooled_connections_survive_a_database_restart(backends: Backends, provider: Provider) -> None:
    """PostgreSQL restarts between two requests: no request sees the dead pooled connections."""
    def machine_tokens() -> list[int]:
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(provider.machine_token().status_code))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        return results

    assert machine_tokens() == [200] * 8  # several connections in the pool
    backends.proxy.cut()
    backends.proxy.restore()
    time.sleep(PING_IF_IDLE)  # a restart takes longer than this; then pooled connections are pinged
    assert machine_tokens() == [200] * 8
    assert provider.services.engine.pool.checkedin() >= 1  # type: ignore[attr-defined]


def test_readyz_follows_redis_and_healthz_never_calls_a_backend(backends: Backends, provider: Provider) -> None:
    with httpx.Client(base_url=provider.base_url, timeout=5) as poller:
        assert poller.get("/readyz").status_code == 200
        assert poller.get("/healthz").json() == {"status": "ok"}
        backends.redis.pause()
        try:
            r = poller.get("/readyz")
            assert r.status_code == 503 and r.json()["down"] == ["store"] and int(r.headers["retry-after"]) >= 1
            started = time.monotonic()
            for _ in range(10):  # polled every second or more often: no poll waits on the hung Redis
                assert poller.get("/readyz").status_code == 503
                assert poller.get("/healthz").status_code == 200
            assert time.monotonic() - started < 10 * REDIS_TIMEOUT
        finally:
            backends.redis.resume()
        _until(lambda: poller.get("/readyz").status_code == 200)


@pytest.mark.parametrize("fault", ["hangs", "dies"])
def test_a_failed_cluster_primary_is_503_and_the_provider_recovers_when_it_is_back(
        cluster_backends: Backends, tmp_path: Path, fault: str) -> None:
    cluster = cluster_backends.redis
    assert isinstance(cluster, LocalCluster)
    with providers(cluster_backends, tmp_path, redis_timeout=SLOW_REDIS_TIMEOUT) as (provider,):
        browser = provider.client()
        _signed_in_tokens(provider, browser)
        # The primary holding this browser's SSO session: its next authorization request needs it.
        store = provider.services.store
        (session_key,) = store._redis.scan_iter(match=store._prefix + "sess:*")  # type: ignore[attr-defined]
        primary = cluster.node_of(session_key.decode())
        if fault == "hangs":
            primary.pause()
        else:
            primary.kill()
        started = time.monotonic()
        _assert_unavailable_page(browser.get(provider.authorize_url()[0]))
        assert time.monotonic() - started < SLOW_REDIS_TIMEOUT * 2  # one bounded timeout at most, no hang
        started = time.monotonic()
        json_client = httpx.Client(base_url=provider.base_url, headers={"accept": "application/json"})
        json_client.cookies = browser.cookies
        _assert_unavailable_json(json_client.get(provider.authorize_url()[0]))
        assert time.monotonic() - started < SLOW_REDIS_TIMEOUT / 3  # the breaker is open: at once
        # Once the other primaries mark it failed, they refuse every command (CLUSTERDOWN): a new
        # sign-in, whatever node its records would go to, is told the store is down, not a 500.
        healthy = next(node for node in cluster.nodes if node is not primary)
        _until(lambda: cluster.state(healthy) == "fail", timeout=10 * CLUSTER_NODE_TIMEOUT_MS / 1000)
        time.sleep(BREAKER_INTERVAL)
        started = time.monotonic()
        _assert_unavailable_page(provider.client().get(provider.authorize_url()[0]))
        assert time.monotonic() - started < SLOW_REDIS_TIMEOUT * 2
        if fault == "hangs":
            primary.resume()
        else:
            primary.start()  # empty, with its slots (its cluster configuration file)
        cluster.wait_until_ok()
        # Back without restarting the provider; a session the restarted node lost comes back from
        # the register, so the browser is still signed in either way.
        def signed_in() -> bool:
            r = browser.get(provider.authorize_url()[0])
            return r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI)

        _until(signed_in, timeout=BREAKER_INTERVAL + 20)
        assert _signed_in_tokens(provider)["id_token"]


def test_two_instances_serve_one_sign_in(backends: Backends, tmp_path: Path) -> None:
    with providers(backends, tmp_path, count=2) as (first, second):
        browser = first.client()
        _signed_in_tokens(first, browser)
        # The same browser (its session cookie) at the other instance: signed in already.
        other = second.client()
        other.cookies = browser.cookies
        url, verifier = second.authorize_url()
        r = other.get(url)
        assert r.status_code == 302 and r.headers["location"].startswith(REDIRECT_URI), r.text
        code = httpx.URL(r.headers["location"]).params["code"]
        token = second.portal().fetch_token(f"{second.base_url}/token", grant_type="authorization_code",
                                            code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
        assert token["id_token"]


@contextmanager
def _provider_on_postgres(tmp_path: Path, **database: object) -> Iterator[Idp]:
    """A provider (in-process, through Starlette's TestClient) on a fresh PostgreSQL database with
    these `IDP_DATABASE_*` settings."""
    with postgres_database(migrated=True) as url:
        settings = idp_settings(url, tmp_path).model_copy(update={f"database_{k}": v for k, v in database.items()})
        idp = build_idp(settings, MemoryStore())
        try:
            yield idp
        finally:
            idp.services.engine.dispose()


def _refresh(idp: Idp) -> httpx.Response:
    return idp.browser.post("/token", auth=("portal", idp.portal_secret),
                            data={"grant_type": "refresh_token", "refresh_token": "unknown"})


def test_a_statement_past_the_statement_timeout_is_answered_503(tmp_path: Path) -> None:
    # Another connection holds a lock on the clients table: every lookup of a client waits for it.
    with _provider_on_postgres(tmp_path, statement_timeout=0.5) as idp:
        assert _refresh(idp).json()["error"] == "invalid_grant"
        locker = idp.services.engine.connect()
        locker.execute(text("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE"))
        try:
            started = time.monotonic()
            _assert_unavailable_json(_refresh(idp))
            _assert_unavailable_page(idp.browser.get("/authorize", params=authorization_params()))
            assert time.monotonic() - started < 5  # two statement timeouts, not a hang
        finally:
            locker.rollback()
            locker.close()
        assert breaker_of(idp.services.engine).state == "closed"  # type: ignore[union-attr]
        assert _refresh(idp).json()["error"] == "invalid_grant"


def test_a_pool_exhausted_past_the_pool_timeout_is_answered_503(tmp_path: Path) -> None:
    with _provider_on_postgres(tmp_path, pool_size=1, max_overflow=0, pool_timeout=0.5) as idp:
        held = idp.services.engine.connect()  # the pool's only connection
        try:
            started = time.monotonic()
            _assert_unavailable_json(_refresh(idp))
            assert time.monotonic() - started < 5
        finally:
            held.close()
        assert _refresh(idp).json()["error"] == "invalid_grant"
