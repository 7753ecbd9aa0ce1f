"""The periodic work every server process runs beside serving requests."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from idp.background import run_deliveries
from idp.sessions.delivery import DeliveryReport


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
