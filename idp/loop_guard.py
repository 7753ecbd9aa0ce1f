"""A tripwire for blocking I/O on the event loop thread.

Redis and database calls are synchronous; made from `async def` code they would stall every
request of the worker (a hung Redis froze discovery). The store and the engine call `check` before
each round trip. It costs one flag test when disabled (production); the test suite enables it, so
any code path that reaches Redis or the database from the event loop fails its test.
"""

from __future__ import annotations

import asyncio


class BlockingOnEventLoop(RuntimeError):
    """Blocking I/O was started on the event loop thread; it belongs in the thread pool."""


_enabled = False


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def check(what: str) -> None:
    if _enabled and asyncio._get_running_loop() is not None:
        raise BlockingOnEventLoop(f"{what} called on the event loop thread; run it in the thread pool")
