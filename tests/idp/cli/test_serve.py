"""`idp serve --workers N`: several worker processes on PostgreSQL + Redis, started and stopped for real."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.cli.main import app
from idp.services import make_keyring
from idp.settings import Settings
from idp.storage.database import make_engine
from idp.storage.redis import RedisStore
from tests.backends import REDIS_URL, postgres_database, unavailable

IDP = Path(sys.executable).with_name("idp")
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    """The processes `pid` started (from /proc: uvicorn's workers, and multiprocessing's helpers)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _is_worker(pid: int) -> bool:
    # A worker is a spawned Python process; multiprocessing's resource tracker is one too, so it is
    # told apart by its command line.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


@pytest.fixture
def shared_backends(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A migrated PostgreSQL database with signing keys and a machine client, a Redis prefix of its own;
    the `IDP_*` environment that names them (the client's secret in CLIENT_SECRET)."""
    prefix = f"idp-test-{uuid.uuid4().hex[:12]}:"
    redis = RedisStore(REDIS_URL, prefix=prefix)
    try:
        redis.get("probe")
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        redis.close()
        unavailable("Redis", exc)
    try:
        with postgres_database(migrated=True) as url:
            kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
            settings = Settings(database_url=url, kek=kek)
            engine = make_engine(url)
            try:
                make_keyring(settings, engine).ensure()
                _, secret = ClientRegistry(SqlClientStore(engine), cache_ttl=0).create(
                    client_id="backend", name="Back end", grant_types=["client_credentials"],
                    scopes=["inquiry.read"], audiences=["https://api.example"])
            finally:
                engine.dispose()
            assert secret is not None
            yield {"IDP_DATABASE_URL": url, "IDP_KEK": kek, "IDP_REDIS_URL": REDIS_URL, "IDP_REDIS_PREFIX": prefix,
                   "IDP_SMS_OUTBOX": str(tmp_path / "sms.jsonl"), "CLIENT_SECRET": secret}
    finally:
        redis.flush_prefix()
        redis.close()


def test_two_workers_start_serve_and_stop_cleanly(shared_backends: dict[str, str], tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env |= {k: v for k, v in shared_backends.items() if k.startswith("IDP_")} | {"IDP_ISSUER": base}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(IDP), "serve", "--port", str(port), "--workers", "2"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "two workers did not start:\n" + log.read_text(errors="replace")
            time.sleep(0.1)
        workers = [pid for pid in _children(proc.pid) if _is_worker(pid)]
        assert len(workers) == 2, log.read_text(errors="replace")

        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(10):  # over fresh connections, so both workers are likely to answer some
                discovery = client.get("/.well-known/openid-configuration", headers={"Connection": "close"})
                assert discovery.status_code == 200 and discovery.json()["issuer"] == base
                token = client.post("/token", auth=("backend", shared_backends["CLIENT_SECRET"]),
                                    data={"grant_type": "client_credentials", "scope": "inquiry.read"},
                                    headers={"Connection": "close"})
                assert token.status_code == 200, token.text
                assert token.json()["token_type"].lower() == "bearer"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise
    assert code == 0, log.read_text(errors="replace")
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived the server"
    assert "Traceback" not in log.read_text(errors="replace")


def test_more_than_one_worker_needs_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    # The in-process store is per process: a second worker would not know the first one's codes.
    monkeypatch.delenv("IDP_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "IDP_REDIS_URL" in result.output
