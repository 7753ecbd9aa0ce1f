"""Periodic work beside serving requests (`idp.background.every`): in a thread of its own, again
after a failure, and stopped at once when the server shuts down."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from idp.background import every, run_deliveries
from idp.sessions.delivery import DeliveryReport


def test_work_runs_in_a_thread_survives_a_failure_and_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    threads: list[str] = []

    def work() -> None:
        threads.append(threading.current_thread().name)
        if len(threads) == 2:
            raise RuntimeError("database went away")

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(every(0.01, work, stop, "session expiry"))
        while len(threads) < 4:
            await asyncio.sleep(0.005)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 2)
        assert threading.current_thread().name not in threads
        return time.monotonic() - started

    with caplog.at_level(logging.ERROR, logger="idp.background"):
        asyncio.run(main())
    assert len(threads) >= 4
    failures = [r for r in caplog.records if r.name == "idp.background"]
    assert len(failures) == 1 and failures[0].getMessage().startswith("background task session expiry failed")
    assert "database went away" in caplog.text


def test_a_long_interval_does_not_delay_shutdown() -> None:
    runs: list[int] = []

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(every(3600, lambda: runs.append(1), stop, "pruning"))
        while not runs:
            await asyncio.sleep(0.005)
        started = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 2)
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.5
    assert runs == [1]


def test_passes_never_overlap() -> None:
    running = threading.Semaphore(1)
    overlaps: list[int] = []
    passes: list[int] = []

    def slow() -> None:
        if not running.acquire(blocking=False):
            overlaps.append(1)
            return
        time.sleep(0.03)
        passes.append(1)
        running.release()

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(every(0.001, slow, stop, "logout delivery"))
        while len(passes) < 3:
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert overlaps == []


def test_background_loop_survives_errors_runs_off_the_event_loop_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    class FlakyDeliverer:
        def deliver_due(self, limit: int = 100, *, should_stop: object = None) -> DeliveryReport:
            calls.append(threading.current_thread().name)
            if len(calls) == 1:
                raise RuntimeError("database went away")
            return DeliveryReport(delivered=1)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_deliveries(FlakyDeliverer(), interval=0.01, stop=stop))  # type: ignore[arg-type]
        while len(calls) < 3:
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.wait_for(task, 2)
        assert threading.current_thread().name not in calls  # passes ran in worker threads

    with caplog.at_level(logging.ERROR, logger="idp.background"):
        asyncio.run(main())
    assert len(calls) >= 3
    assert "delivery pass failed" in caplog.text and "database went away" in caplog.text
