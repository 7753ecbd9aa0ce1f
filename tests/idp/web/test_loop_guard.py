"""The tripwire for blocking I/O on the event loop (`idp.web.loop_guard`), as the suite runs it:
a database or Redis call made on the loop while serving a request fails; the same call from the
thread pool, or from an event loop that serves no request, goes through."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.storage.database import make_engine
from idp.web import loop_guard
from idp.web.loop_guard import BlockingOnEventLoop


def _query(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("SELECT 1")).scalar_one())


def test_a_database_call_on_the_loop_of_a_request_fails_and_in_a_thread_passes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'idp.db'}")

    async def request() -> int:
        loop_guard.serving_request()
        with pytest.raises(BlockingOnEventLoop, match="the database called on the event loop thread"):
            _query(engine)
        return await asyncio.to_thread(_query, engine)  # the mark follows the request; no loop there

    assert asyncio.run(request()) == 1
    engine.dispose()


def test_a_loop_that_serves_no_request_is_not_the_apps_business(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'idp.db'}")

    async def not_a_request() -> int:
        return _query(engine)

    assert asyncio.run(not_a_request()) == 1
    engine.dispose()


def test_disabled_it_lets_everything_through(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'idp.db'}")

    async def request() -> int:
        loop_guard.serving_request()
        return _query(engine)

    loop_guard.enable(False)
    try:
        assert asyncio.run(request()) == 1
    finally:
        loop_guard.enable()
    engine.dispose()
