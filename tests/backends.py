"""Real backends for tests: SQLite files and the local PostgreSQL (also behind a private PgBouncer);
in-process store and local Redis.

Each test database is created and dropped by the test run itself, and each Redis run uses its own
key prefix, so a server someone else is using is never touched. Under CI=true an unreachable
PostgreSQL or Redis fails the run; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
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
def sqlite_database(path: Path) -> Iterator[Engine]:
    """A migrated SQLite file at `path`, as an engine disposed of afterwards."""
    from idp.storage.database import make_engine
    from idp.storage.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


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


PGBOUNCER_POOL_SIZE = 2


class PgBouncer:
    """A private PgBouncer in transaction pooling mode on a free loopback port, in front of the test
    PostgreSQL: every database there is reachable under its own name (`* =`), with at most
    `PGBOUNCER_POOL_SIZE` server connections per database, so client connections share them."""

    def __init__(self, binary: str) -> None:
        from tests.faults import free_port

        self.port = free_port()
        self._binary = binary
        # Not pytest's tmp_path: run as root, PgBouncer drops to `nobody`, who must read its files.
        self._dir = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from sqlalchemy.engine import make_url

        from tests.faults import _wait_for_port

        server = make_url(POSTGRES_ADMIN_URL)
        (self._dir / "users.txt").write_text(f'"{server.username}" ""\n')
        (self._dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.host} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self._dir / 'users.txt'}\npool_mode = transaction\n"
            f"default_pool_size = {PGBOUNCER_POOL_SIZE}\nmax_client_conn = 200\n"
            f"logfile = {self._dir / 'pgbouncer.log'}\npidfile = {self._dir / 'pgbouncer.pid'}\n"
        )
        command = [self._binary]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            os.chown(self._dir, pwd.getpwnam("nobody").pw_uid, -1)
            self._dir.chmod(0o755)
            command += ["-u", "nobody"]
        # Its log goes to the logfile; an unread pipe would fill up and stop it.
        self._proc = subprocess.Popen(  # noqa: S603 - a fixed local binary with our own arguments
            [*command, "--quiet", str(self._dir / "pgbouncer.ini")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(self.port)
        except RuntimeError as exc:
            log = self._dir / "pgbouncer.log"
            reason = log.read_text() if log.exists() else "no log"
            self.stop()
            raise RuntimeError(f"pgbouncer did not start: {reason}") from exc

    def url(self, database_url: str) -> str:
        """The same database reached through PgBouncer."""
        from sqlalchemy.engine import make_url

        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def stop(self) -> None:
        try:
            if self._proc is not None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=10)
                self._proc = None
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


@contextmanager
def pgbouncer() -> Iterator[PgBouncer]:
    binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if binary is None:
        if IN_CI:
            pytest.fail("pgbouncer is not installed (required under CI=true)")
        pytest.skip("pgbouncer is not installed")
    bouncer = PgBouncer(binary)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()
