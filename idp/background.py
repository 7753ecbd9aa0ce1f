"""Periodic work each worker process runs beside serving requests: delivering back-channel logout
notifications and ending expired sessions. Both are safe to run in many processes at once (rows are
claimed, sessions closed exactly once), so there is no separate scheduler to deploy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import anyio
import anyio.to_thread

log = logging.getLogger("idp.background")


async def every(interval: float, work: Callable[[], object], stop: asyncio.Event, name: str) -> None:
    """Run `work` in a worker thread every `interval` seconds until `stop` is set; a failure is
    logged and retried at the next tick, never allowed to take the server down."""
    # Its own thread: a slow pass never holds one of the threads that serve requests.
    limiter = anyio.CapacityLimiter(1)
    while not stop.is_set():
        try:
            await anyio.to_thread.run_sync(work, limiter=limiter)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
            log.exception("background task %s failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
