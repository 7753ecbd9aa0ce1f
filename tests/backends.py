"""Real backends for tests: SQLite files and the local PostgreSQL; in-process store and local Redis.

Each test database is created and dropped by the test run itself, and each Redis run uses its own
key prefix, so a server someone else is using is never touched. Under CI=true an unreachable
PostgreSQL or Redis fails the run; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.pool import NullPool

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "IDP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def unavailable(what: str, exc: BaseException) -> None:
    reason = f"{what} is not reachable: {exc}"
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


_template: str | None = None


def _migrated_template() -> str:
    """A migrated database this test process copies for each test (much faster than migrating
    each one); dropped when the process exits."""
    global _template
    if _template is None:
        import atexit

        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from idp.storage.migrate import upgrade

        name = f"idp_tmpl_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        upgrade(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))

        def _drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

        atexit.register(_drop)
        _template = name
    return _template


@contextmanager
def postgres_database(*, migrated: bool = False) -> Iterator[str]:
    """Create a fresh, uniquely named PostgreSQL database (a copy of a migrated one if `migrated`);
    yield its URL; drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"idp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        template = f' TEMPLATE "{_migrated_template()}"' if migrated else ""
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available"
        admin.dispose()
        unavailable("PostgreSQL", exc)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_store() -> Iterator[object]:
    """A RedisStore on the local server under a prefix of its own, emptied afterwards."""
    from idp.storage.redis import RedisStore

    store = RedisStore(REDIS_URL, prefix=f"idp-test-{uuid.uuid4().hex[:12]}:")
    try:
        store.get("probe")
    except Exception as exc:  # noqa: BLE001
        unavailable("Redis", exc)
    try:
        yield store
    finally:
        store.flush_prefix()
        store.close()
