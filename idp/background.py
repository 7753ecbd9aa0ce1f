"""Periodic work each worker process runs beside serving requests: delivering back-channel logout
notifications, ending expired sessions and pruning. All are safe to run in many processes at once
(rows are claimed, sessions closed exactly once), so there is no separate scheduler to deploy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from idp.sessions.delivery import LogoutDeliverer

log = logging.getLogger("idp.background")

_R = TypeVar("_R")


async def every(
    interval: float, work: Callable[[], _R], stop: asyncio.Event, name: str,
    *, again: Callable[[_R], bool] | None = None,
) -> None:
    """Run `work` in a worker thread every `interval` seconds until `stop` is set; a failure is
    logged and retried at the next tick, never allowed to take the server down. If `again` says so
    of a pass's result (more work is waiting), the next pass starts at once."""
    # Its own thread: a slow pass never holds one of the threads that serve requests.
    limiter = anyio.CapacityLimiter(1)
    while not stop.is_set():
        try:
            result = await anyio.to_thread.run_sync(work, limiter=limiter)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
            log.exception("background task %s failed; retrying in %s s", name, interval)
        else:
            if again is not None and again(result):
                continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def run_deliveries(
    deliverer: LogoutDeliverer, *, interval: float, stop: asyncio.Event, limit: int = 100
) -> None:
    """Deliver due back-channel logout notifications every `interval` seconds until `stop` is set.

    A full pass (`limit` rows) is followed at once by another. A pass checks `stop` between rows,
    so setting it and awaiting the task returns after the row being sent; the outbox keeps the rest.
    """
    await every(interval, lambda: deliverer.deliver_due(limit, should_stop=stop.is_set), stop,
                "back-channel logout delivery pass", again=lambda report: report.total >= limit)
