"""The provider on PostgreSQL behind PgBouncer in transaction pooling mode (`IDP_DATABASE_TRANSACTION_POOLING`).

PgBouncer hands each transaction to any of its server connections (two per database here, shared by
every client connection), so nothing may live in a server session between transactions: no startup
option (PgBouncer refuses them), no `SET`, no prepared statement. psycopg prepares a query after five
executions on one connection; a rollback resets its count, so today's request paths, which mostly
end in one, seldom get there, but a connection that commits one query repeatedly does, and then
breaks ("prepared statement "_pg3_0" already exists") without the setting. A sign-in and refresh
flow, sequential and concurrent, and that pattern run here; the durable-store contract suites run
behind PgBouncer too (the `pgbouncer` marker, tests/conftest.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from idp.storage.database import DatabaseTooSlow, make_engine
from idp.storage.store import MemoryStore
from tests.backends import PgBouncer, postgres_database
from tests.idp.conftest import ISSUER, Idp, _build, _settings
from tests.idp.flows import user_tokens

pytestmark = pytest.mark.postgres

# More than psycopg's prepare_threshold: five executions of a query on one connection.
ROUNDS = 6


@pytest.fixture
def pooled_idp(tmp_path: Path, pgbouncer: PgBouncer) -> Iterator[Idp]:
    with postgres_database(migrated=True) as url:
        settings = _settings(pgbouncer.url(url), tmp_path).model_copy(update={
            "database_transaction_pooling": True, "database_pool_size": 3, "database_max_overflow": 3})
        idp = _build(settings, MemoryStore())
        yield idp
        idp.services.engine.dispose()


def _refresh(idp: Idp, refresh_token: str) -> dict[str, object]:
    r = idp.new_browser().post("/token", auth=("portal", idp.portal_secret),
                               data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    return {"status": r.status_code, **r.json()}


def _rotate(idp: Idp, refresh_token: str, times: int) -> str:
    for _ in range(times):
        answer = _refresh(idp, refresh_token)
        assert answer["status"] == 200, answer
        assert answer["refresh_token"] != refresh_token
        refresh_token = str(answer["refresh_token"])
    return refresh_token


def test_sign_in_code_tokens_rotation_and_reuse_detection_behind_pgbouncer(pooled_idp: Idp) -> None:
    idp = pooled_idp
    for _ in range(ROUNDS):
        first = user_tokens(idp)
        newest = _rotate(idp, first["refresh_token"], 2)
        reused = _refresh(idp, first["refresh_token"])
        assert reused["status"] == 400 and reused["error"] == "invalid_grant"
        assert _refresh(idp, newest)["error"] == "invalid_grant"  # the whole family is revoked

    # Concurrent requests: more client connections than PgBouncer has server connections.
    chains = [user_tokens(idp)["refresh_token"] for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ends = list(pool.map(lambda token: _rotate(idp, token, ROUNDS), chains))
    assert len(set(ends)) == 4
    userinfo = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {user_tokens(idp)['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["sub"]
    assert idp.oauth().refresh_token(f"{ISSUER}/token", refresh_token=ends[0])["access_token"]


def test_the_statement_timeout_comes_from_the_database_role_behind_pgbouncer(
    pgbouncer: PgBouncer, caplog: pytest.LogCaptureFixture,
) -> None:
    """PgBouncer refuses startup options, so the timeout is the role's (here the database's, which
    only this test uses): without one the engine says how to set it; with one a slow statement is
    cancelled and answered as too slow."""
    with postgres_database() as plain, postgres_database() as timed:
        with caplog.at_level(logging.WARNING, logger="idp.backends"):
            engine = make_engine(pgbouncer.url(plain), statement_timeout=0.3, transaction_pooling=True)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
            engine.dispose()
        assert 'ALTER ROLE "postgres" SET statement_timeout = 300' in caplog.text

        # Set before PgBouncer opens a server connection to it: a setting applies to new sessions.
        admin = create_engine(timed, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{make_url(timed).database}" SET statement_timeout = 300'))
        admin.dispose()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="idp.backends"):
            engine = make_engine(pgbouncer.url(timed), statement_timeout=0.3, transaction_pooling=True)
            with pytest.raises(DatabaseTooSlow), engine.connect() as conn:
                conn.execute(text("SELECT pg_sleep(2)"))
            with engine.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
            engine.dispose()
        assert "ALTER ROLE" not in caplog.text



def test_statements_committed_often_and_concurrently_share_server_connections(pgbouncer: PgBouncer) -> None:
    """The pattern that makes psycopg prepare a statement: one connection committing the same query
    more than five times (a rollback would reset its count). Here four threads do, each on its own
    client connection, over PgBouncer's two server connections."""
    with postgres_database() as url:
        engine = make_engine(pgbouncer.url(url), transaction_pooling=True, pool_size=4, max_overflow=0)

        def commit_often(n: int) -> int:
            for i in range(3 * ROUNDS):
                with engine.begin() as conn:
                    assert conn.execute(text("SELECT :n + :i"), {"n": n, "i": i}).scalar() == n + i
            return n

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sorted(pool.map(commit_often, range(4))) == [0, 1, 2, 3]
        engine.dispose()
