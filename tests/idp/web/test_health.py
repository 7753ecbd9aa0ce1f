"""Health checks for load balancers (`idp.web.health`): `/healthz` says the process answers and
touches no backend; `/readyz` says whether the database and the ephemeral store answer, 503 with
Retry-After and the names of the ones that do not."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from idp.storage.database import breaker_of, make_engine
from idp.storage.migrate import upgrade
from idp.storage.redis import RedisStore
from idp.storage.store import MemoryStore
from idp.web.health import Health
from tests.faults import free_port
from tests.idp.conftest import Idp


def test_a_working_provider_is_alive_and_ready(idp: Idp) -> None:
    for path, status in (("/healthz", "ok"), ("/readyz", "ready")):
        r = idp.browser.get(path)
        assert r.status_code == 200 and r.json() == {"status": status}, path
        assert r.headers["cache-control"] == "no-store" and "retry-after" not in r.headers
        head = idp.browser.head(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == r.headers["content-length"]


def _client(endpoint: object) -> TestClient:
    return TestClient(endpoint)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_a_database_that_is_down_makes_it_unready_but_alive(tmp_path: Path) -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/idp", timeout=2,
                         breaker_interval=30)
    health = Health(engine, MemoryStore())
    r = _client(health.readyz).get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "down": ["database"]}
    assert 1 <= int(r.headers["retry-after"]) <= 30 and r.headers["cache-control"] == "no-store"
    # Now the breaker knows: the answer comes from it, with the time until its next probe.
    breaker = breaker_of(engine)
    assert breaker is not None and breaker.state == "open"
    again = _client(health.readyz).get("/readyz")
    assert again.status_code == 503 and again.json()["down"] == ["database"]
    assert 25 <= int(again.headers["retry-after"]) <= 30
    alive = _client(health.healthz).get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    engine.dispose()


@pytest.mark.redis
def test_a_store_that_is_down_makes_it_unready(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2, breaker_interval=10)
    health = Health(engine, store)
    r = _client(health.readyz).get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "down": ["store"]}
    assert 1 <= int(r.headers["retry-after"]) <= 10
    head = _client(health.readyz).head("/readyz")
    assert head.status_code == 503 and head.content == b""
    store.close()
    engine.dispose()
