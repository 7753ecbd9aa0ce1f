from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import Engine

from idp.storage.database import make_engine
from idp.storage.migrate import upgrade
from tests.backends import PgBouncer, postgres_database, redis_store, sqlite_database
from tests.backends import pgbouncer as start_pgbouncer
from tests.redis_cluster import LocalCluster, also_on_cluster, cluster_store, local_cluster
from tests.relying_party import rp  # noqa: F401 - a fixture: a relying party's logout endpoint

STORES = ["memory", "redis"]


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A 3-primary Redis Cluster on loopback ports, one per test process, started on first use."""
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.hookimpl(tryfirst=True)  # before pytest applies the fixtures' own params and reads the markers
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Suites marked `cluster` also run on a Redis Cluster; suites marked `pgbouncer` run a third
    time, on PostgreSQL behind PgBouncer in transaction mode."""
    also_on_cluster(metafunc, "store", [*STORES, "redis-cluster"])
    if "database_url" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker("pgbouncer"):
        return
    if any(m.args and "database_url" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        return  # the test chose its backends itself
    metafunc.definition.add_marker(
        pytest.mark.parametrize("database_url", ["sqlite", "postgres", "pgbouncer"], indirect=True))


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """One private PgBouncer per test process, in front of every test database."""
    with start_pgbouncer() as bouncer:
        yield bouncer


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then a fresh PostgreSQL database (and, for suites
    marked `pgbouncer`, one reached through PgBouncer)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'idp.db'}"
        upgrade(url)
        yield url
    else:
        with postgres_database(migrated=True) as url:
            yield request.getfixturevalue("pgbouncer").url(url) if request.param == "pgbouncer" else url


@pytest.fixture
def engine(request: pytest.FixtureRequest, database_url: str) -> Iterator[Engine]:
    callspec = getattr(request.node, "callspec", None)
    pooled = callspec is not None and callspec.params.get("database_url") == "pgbouncer"
    engine = make_engine(database_url, transaction_pooling=pooled)
    yield engine
    engine.dispose()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[object]:
    """The ephemeral store: in-process, then the local Redis under a private prefix (and, for tests
    marked `cluster`, the test process's Redis Cluster under a private prefix)."""
    if request.param == "memory":
        from idp.storage.store import MemoryStore

        yield MemoryStore()
    elif request.param == "redis-cluster":
        with cluster_store(request.getfixturevalue("redis_cluster")) as s:
            yield s
    else:
        with redis_store() as s:
            yield s


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file only: for command-line tests, whose logic has no backend of its own."""
    with sqlite_database(tmp_path / "idp.db") as engine:
        yield engine


@pytest.fixture
def audit() -> list[tuple[str, dict[str, object]]]:
    """Audit events a domain service reported, in order (see `record_audit`)."""
    return []


@pytest.fixture
def record_audit(audit: list[tuple[str, dict[str, object]]]) -> Callable[[str, Mapping[str, object]], None]:
    def record(kind: str, detail: Mapping[str, object]) -> None:
        audit.append((kind, dict(detail)))

    return record


@pytest.fixture(autouse=True, scope="session")
def _no_blocking_io_on_the_event_loop() -> Iterator[None]:
    """Any Redis or database call made on the event loop thread fails the test that made it."""
    from idp.web import loop_guard

    loop_guard.enable()
    yield
    loop_guard.enable(False)
