"""The fault injectors themselves: a paused Redis hangs, a restarted one is empty, a cut proxy refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from tests.backends import postgres_database
from tests.faults import postgres_behind_proxy, redis_server

pytestmark = [pytest.mark.redis]


def test_private_redis_hangs_when_paused_and_comes_back_empty(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=0.3)
        client.set("k", "v")
        server.pause()
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        server.resume()
        client = redis.Redis.from_url(server.url, socket_timeout=0.3)
        assert client.get("k") == b"v"
        server.restart_empty()
        client = redis.Redis.from_url(server.url, socket_timeout=0.3)
        assert client.get("k") is None


@pytest.mark.postgres
def test_cut_proxy_refuses_postgres_until_restored() -> None:
    with postgres_database() as url, postgres_behind_proxy(url) as (proxied, proxy):
        engine = create_engine(proxied, poolclass=NullPool, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
        proxy.cut()
        with pytest.raises(OperationalError):
            engine.connect().close()
        proxy.restore()
        with engine.connect() as conn:
            assert conn.execute(text("select 1")).scalar() == 1
        engine.dispose()
