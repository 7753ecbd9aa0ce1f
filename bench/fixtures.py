"""Backends and the data a benchmark run needs: schema, signing keys, clients, people, refresh tokens.

Each backend is a context manager that creates its own throw-away database (and Redis prefix) and
removes it on exit, so a run never touches anyone else's data.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, text

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.oauth.refresh_tokens import hash_token
from idp.services import make_keyring
from idp.settings import Settings
from idp.storage.database import make_engine
from idp.storage.migrate import upgrade
from idp.storage.redis import RedisStore
from idp.storage.tables import RefreshTokenRow
from levels.authenticators.password import Passwords
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, new_person
from levels.store_sql import PasswordCredentialRow, PersonRow

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres?connect_timeout=5"
REDIS_URL = "redis://127.0.0.1:6379/14"

MACHINE_ID = "bench-machine"
PORTAL_ID = "bench-portal"
STRICT_PORTAL_ID = "bench-portal-l2"  # a portal whose minimum level is 2: password, then an SMS code
REDIRECT_URI = "https://portal.example/cb"
SIGNIN_SCOPE = "openid profile"
BENCH_PASSWORD = "bench password 1"
AUDIENCE = "https://api.example"
REFRESH_SCOPE = "openid profile offline_access"
_INSERT_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None = None
    redis_prefix: str = "idp:"


@dataclass(frozen=True, slots=True)
class Fixture:
    """What the load generator needs to know about the prepared data."""

    kek: str
    machine_authorization: str  # full `Authorization` header values (HTTP Basic)
    portal_authorization: str
    strict_portal_authorization: str
    person_id: str


def new_kek() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def _unique(prefix: str) -> str:
    return f"{prefix}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


@contextmanager
def sqlite_backend() -> Iterator[Backend]:
    """A SQLite file in a temporary directory, with the in-process ephemeral store."""
    with tempfile.TemporaryDirectory(prefix="idp-bench-") as tmp:
        yield Backend("sqlite+memory", f"sqlite:///{Path(tmp) / 'idp.db'}")


@contextmanager
def postgres_redis_backend() -> Iterator[Backend]:
    """A freshly created PostgreSQL database and a private Redis key prefix; both removed on exit."""
    name = _unique("idp_bench")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        backend = Backend(
            "postgres+redis", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}?connect_timeout=5",
            redis_url=REDIS_URL, redis_prefix=f"{name}:",
        )
        try:
            yield backend
        finally:
            _drop_redis_prefix(backend)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _drop_redis_prefix(backend: Backend) -> None:
    assert backend.redis_url is not None
    store = RedisStore(backend.redis_url, prefix=backend.redis_prefix)
    try:
        store.flush_prefix()
    finally:
        store.close()


def prepare(backend: Backend, settings: Settings) -> Fixture:
    """Migrate the schema, create signing keys, both clients and a person; return their credentials."""
    assert settings.kek is not None
    upgrade(backend.database_url)
    engine = make_engine(backend.database_url)
    try:
        make_keyring(settings, engine).ensure()
        registry = ClientRegistry(SqlClientStore(engine), cache_ttl=0)
        _, machine_secret = registry.create(
            client_id=MACHINE_ID, name="Benchmark back end", grant_types=["client_credentials"],
            scopes=["inquiry.read"], audiences=[AUDIENCE],
        )
        _, portal_secret = registry.create(
            client_id=PORTAL_ID, name="Benchmark portal", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"], scopes=REFRESH_SCOPE.split(),
        )
        _, strict_secret = registry.create(
            client_id=STRICT_PORTAL_ID, name="Benchmark portal (level 2)", redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"], scopes=SIGNIN_SCOPE.split(), min_level=2,
        )
        assert machine_secret is not None and portal_secret is not None and strict_secret is not None
        person = new_person(make_national_code("001234567"), "Sara", "Ahmadi", birthdate=date(1990, 3, 21),
                            now=datetime.now(UTC))
        SqlPersonStore(engine).add(person)
    finally:
        engine.dispose()
    return Fixture(
        settings.kek, _basic(MACHINE_ID, machine_secret), _basic(PORTAL_ID, portal_secret),
        _basic(STRICT_PORTAL_ID, strict_secret), person.id,
    )


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def issue_refresh_tokens(database_url: str, person_id: str, count: int, out: Path) -> None:
    """Store `count` fresh refresh tokens for the portal client and write their plaintext to `out`.

    Rows are exactly what `SqlRefreshTokenStore.issue` stores (same hash, one family per token, as
    if each came from a separate sign-in), but inserted in batches: issuing 100k one by one would
    take longer than the benchmark.
    """
    engine = make_engine(database_url)
    try:
        with out.open("w") as fh:
            for start in range(0, count, _INSERT_BATCH):
                tokens = [secrets.token_urlsafe(32) for _ in range(min(_INSERT_BATCH, count - start))]
                _insert_refresh_rows(engine, person_id, tokens)
                fh.write("".join(t + "\n" for t in tokens))
    finally:
        engine.dispose()


def _insert_refresh_rows(engine: Engine, person_id: str, tokens: list[str]) -> None:
    now = datetime.now(UTC)
    auth = {"auth_time": int(now.timestamp()), "acr": "urn:idp:loa:1", "amr": ["pwd"], "sid": None}
    rows = [
        {
            "token_hash": hash_token(token), "family_id": secrets.token_urlsafe(16), "client_id": PORTAL_ID,
            "person_id": person_id, "session_id": None, "scope": REFRESH_SCOPE, "auth": auth,
            "access_jti": None, "issued_at": now, "expires_at": now + timedelta(days=1),
        }
        for token in tokens
    ]
    with engine.begin() as conn:
        conn.execute(insert(RefreshTokenRow), rows)


def add_signin_people(database_url: str, settings: Settings, *, series: int, count: int, tier: int,
                      out: Path) -> None:
    """Store `count` active people who can sign in with `BENCH_PASSWORD` and write one line per
    person to `out`: `national_code mobile`.

    `series` (1-9) is the first digit of their national codes, so pools of different scenarios
    never share a person. Each has a distinct mobile (the SMS limits are per person and number) and
    proofing tier `tier` (2 for a level-2 sign-in). Every person gets the same argon2id hash, made
    once with the server's own parameters: verifying it costs exactly what verifying a hash of
    their own would, while hashing thousands of passwords one by one would take minutes.
    """
    assert 1 <= series <= 9 and count < 10**7
    password_hash = Passwords(settings.argon2_memory_kib, settings.argon2_time_cost).hash(BENCH_PASSWORD)
    engine = make_engine(database_url)
    try:
        with out.open("w") as fh:
            for start in range(0, count, _INSERT_BATCH):
                people = [_bench_person(series, n) for n in range(start, min(count, start + _INSERT_BATCH))]
                now = datetime.now(UTC)
                ids = [secrets.token_urlsafe(24) for _ in people]
                with engine.begin() as conn:
                    conn.execute(insert(PersonRow), [
                        {"id": person_id, "national_code": code, "given_name": "Bench",
                         "family_name": f"Person {code}", "birthdate": date(1990, 3, 21), "mobile": mobile,
                         "mobile_verified": True, "proofing_tier": tier, "status": "active", "created_at": now}
                        for person_id, (code, mobile) in zip(ids, people, strict=True)
                    ])
                    conn.execute(insert(PasswordCredentialRow), [
                        {"person_id": person_id, "hash": password_hash, "updated_at": now} for person_id in ids
                    ])
                fh.write("".join(f"{code} {mobile}\n" for code, mobile in people))
    finally:
        engine.dispose()


def _bench_person(series: int, n: int) -> tuple[str, str]:
    """The n-th bench person of a series: a valid national code and a distinct mobile number."""
    return make_national_code(f"{series}{n:08d}"), f"+989{series}{n:08d}"
