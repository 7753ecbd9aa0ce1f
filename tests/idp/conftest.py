"""An identity provider per test, on SQLite + in-process store and on PostgreSQL + Redis.

Protocol tests drive it over HTTP: a cookie-keeping "browser" (Starlette's TestClient) for the
front channel and Authlib's OAuth2Client, through the same ASGI transport, as the relying party.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from authlib.integrations.httpx_client import OAuth2Client
from starlette.testclient import TestClient

from idp.services import Services
from idp.settings import Settings
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.backends import postgres_database, redis_store
from tests.redis_cluster import also_on_cluster, cluster_store

ISSUER = "https://idp.test"
REDIRECT_URI = "https://portal.example/callback"
PASSWORD = "correct horse battery"
# The load balancer in front of the provider (`IDP_TRUSTED_PROXIES`): a TestClient made with
# `client=(LOAD_BALANCER, port)` reaches the app through it. The default peer ("testclient") is not it.
LOAD_BALANCER = "10.9.0.2"


@dataclass
class Idp:
    services: Services
    browser: TestClient
    transport: httpx.BaseTransport
    national_code: str
    person_id: str
    portal_secret: str
    # The one event loop every browser of this provider is served on, as a server has one: without
    # it Starlette's TestClient starts a new loop per request, and each loop would open its own
    # connections to Redis (the event loop's client is per loop).
    portal: BlockingPortal | None = None

    def oauth(self, client_id: str = "portal", client_secret: str | None = None, **kwargs: object) -> OAuth2Client:
        """A relying party: Authlib's OAuth 2.0 client talking to our app over the ASGI transport."""
        secret = self.portal_secret if client_secret is None and client_id == "portal" else client_secret
        kwargs.setdefault("redirect_uri", REDIRECT_URI)
        kwargs.setdefault("scope", "openid profile")
        kwargs.setdefault("code_challenge_method", "S256")
        return OAuth2Client(client_id, secret, transport=self.transport, base_url=ISSUER, **kwargs)

    def last_sms_code(self) -> str:
        """The code in the newest message of the SMS outbox (the development gateway)."""
        lines = self.services.settings.sms_outbox.read_text(encoding="utf-8").splitlines()
        match = re.search(r"\d{6}", json.loads(lines[-1])["text"])
        assert match, lines[-1]
        return match.group(0)

    def set_tier(self, tier: int) -> None:
        from sqlalchemy import update

        from levels.store_sql import PersonRow

        with self.services.engine.begin() as conn:
            conn.execute(update(PersonRow).where(PersonRow.id == self.person_id).values(proofing_tier=tier))

    def new_browser(self) -> TestClient:
        browser = TestClient(self.browser.app, base_url=ISSUER, follow_redirects=False)
        browser.portal = self.portal
        return browser

    def add_client(self, client_id: str, **fields: object) -> str | None:
        fields.setdefault("name", client_id)
        fields.setdefault("redirect_uris", [f"https://{client_id}.example/callback"])
        fields.setdefault("scopes", ["openid", "profile"])
        _, secret = self.services.clients.create(client_id=client_id, **fields)  # type: ignore[arg-type]
        return secret


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        issuer=ISSUER, database_url=database_url,
        kek=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        argon2_memory_kib=1024, argon2_time_cost=1, client_cache_ttl=0, sms_outbox=tmp_path / "sms.jsonl",
        trusted_proxies="10.9.0.0/29",
        # Slowed sign-ins wait far longer than any test takes, so "refused while waiting" is certain.
        login_first_delay=600,
    )


def _build(settings: Settings, store: object, **options: object) -> Idp:
    """`options`: more arguments for `Services.build` (e.g. `extra_factors`)."""
    svc = Services.build(settings, store=store, **options)  # type: ignore[arg-type]
    app = create_app(settings, services=svc)
    _, portal_secret = svc.clients.create(
        client_id="portal", name="Tax portal", redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=["https://portal.example/signed-out"],
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "phone", "offline_access"],
    )
    code = make_national_code("001234567")
    person = new_person(code, "Sara", "Ahmadi", birthdate=date(1990, 3, 21), mobile="+989121234567",
                        mobile_verified=True, now=datetime.now(UTC))
    svc.people.add(person)
    svc.people.set_password_hash(person.id, svc.passwords.hash(PASSWORD), datetime.now(UTC))
    browser = TestClient(app, base_url=ISSUER, follow_redirects=False)
    return Idp(svc, browser, browser._transport, code, person.id, portal_secret or "")


BACKENDS = ["sqlite+memory", "postgres+redis"]


@pytest.hookimpl(tryfirst=True)  # before pytest applies the fixture's own params
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    also_on_cluster(metafunc, "idp", [*BACKENDS, "postgres+redis-cluster"])


@pytest.fixture(params=BACKENDS)
def idp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Idp]:
    """A provider on SQLite + memory, then PostgreSQL + Redis (and, in tests marked `cluster`,
    PostgreSQL + the test process's Redis Cluster)."""
    if request.param == "sqlite+memory":
        url = f"sqlite:///{tmp_path / 'idp.db'}"
        upgrade(url)
        with one_loop(_build(_settings(url, tmp_path), MemoryStore())) as idp:
            yield idp
        return
    stores = {"postgres+redis": redis_store,
              "postgres+redis-cluster": lambda: cluster_store(request.getfixturevalue("redis_cluster"))}
    with postgres_database(migrated=True) as url, stores[request.param]() as store, \
            one_loop(_build(_settings(url, tmp_path), store)) as idp:
        yield idp


@contextmanager
def one_loop(idp: Idp) -> Iterator[Idp]:
    """Serve every browser of `idp` on one event loop (`Idp.portal`); dispose of its engine after."""
    with start_blocking_portal() as portal:
        idp.portal = idp.browser.portal = portal
        try:
            yield idp
        finally:
            idp.services.engine.dispose()


@pytest.fixture(params=["sqlite+memory", "postgres+redis"])
def make_idp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Idp]]:
    """Make a provider with some settings changed (`make_idp(code_ttl=5)`), on each pair of backends."""
    with ExitStack() as stack:

        def make(**changed: object) -> Idp:
            if request.param == "sqlite+memory":
                url = f"sqlite:///{tmp_path / 'idp.db'}"
                upgrade(url)
                store: object = MemoryStore()
            else:
                url = stack.enter_context(postgres_database(migrated=True))
                store = stack.enter_context(redis_store())
            settings = _settings(url, tmp_path).model_copy(update=changed)
            return stack.enter_context(one_loop(_build(settings, store)))

        yield make


@pytest.fixture
def clocked_idp(tmp_path: Path) -> Iterator[tuple[Idp, list[float]]]:
    """A provider on SQLite whose in-process store runs on a clock the test moves (`now[0]`)."""
    now = [1_000.0]
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    with one_loop(_build(_settings(url, tmp_path), MemoryStore(clock=lambda: now[0]))) as idp:
        yield idp, now


@pytest.fixture
def sqlite_idp(tmp_path: Path) -> Iterator[Idp]:
    """Only the embedded backends: for page and input-validation tests that don't touch storage rules."""
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    with one_loop(_build(_settings(url, tmp_path), MemoryStore())) as idp:
        yield idp


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
TX_RE = re.compile(r'name="tx" value="([^"]+)"')


def sign_in(browser: TestClient, authorize_url: str, national_code: str, password: str = PASSWORD) -> httpx.Response:
    """Follow an authorization request through the sign-in pages (national code and password, and a
    password re-entry step when asked); return the final response, normally the redirect back to
    the client, or the first page that asks for something else."""
    r = browser.get(authorize_url)
    for _ in range(6):
        location = r.headers.get("location", "") if r.status_code in (302, 303) else ""
        if location.startswith("/login?"):
            page = browser.get(location)
            assert page.status_code == 200
            r = submit_login(browser, page.text, national_code, password)
            assert r.status_code == 303, r.text
        elif location.startswith("/login/step?"):
            page = browser.get(location)
            if page.status_code in (302, 303):
                r = page
                continue
            if 'name="method" value="pwd"' not in page.text:
                return page
            r = submit_step(browser, page.text, password=password)
        elif location.startswith("/authorize/resume"):
            r = browser.get(location)
        else:
            return r
    raise AssertionError("sign-in did not finish")


def submit_step(browser: TestClient, page_html: str, **fields: str) -> httpx.Response:
    csrf = CSRF_RE.search(page_html)
    tx = TX_RE.search(page_html)
    method = re.search(r'name="method" value="([^"]+)"', page_html)
    assert csrf and tx and method, "step page has no CSRF token, transaction or method"
    return browser.post("/login/step", data={
        "csrf_token": csrf.group(1), "tx": tx.group(1), "method": method.group(1), **fields})


def submit_login(browser: TestClient, page_html: str, national_code: str, password: str) -> httpx.Response:
    csrf = CSRF_RE.search(page_html)
    tx = TX_RE.search(page_html)
    assert csrf and tx, "login page has no CSRF token or transaction id"
    return browser.post("/login", data={
        "csrf_token": csrf.group(1), "tx": tx.group(1), "national_code": national_code, "password": password,
    })


def pkce_pair() -> tuple[str, str]:
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)
