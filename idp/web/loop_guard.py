"""A tripwire for blocking I/O on the event loop thread.

Redis and database calls are synchronous; made from `async def` code they would stall every
request of the worker (a hung Redis froze discovery). The store and the engine call `check` before
each round trip. It costs one flag test when disabled (production); the test suite enables it, so
any request that reaches Redis or the database from the event loop fails its test.

Only code serving a request counts (the ASGI entry point marks its task): other event loops in a
test process, such as the one Playwright runs in the test's own thread, are none of the app's
business. The mark is a context variable, so it follows a request into the thread pool, where no
event loop runs and calls are allowed.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar


class BlockingOnEventLoop(RuntimeError):
    """Blocking I/O was started on the event loop thread; it belongs in the thread pool."""


_enabled = False
_serving: ContextVar[bool] = ContextVar("idp_serving_request", default=False)


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def serving_request() -> None:
    """The current task serves a request (called by the ASGI entry point)."""
    if _enabled:
        _serving.set(True)


def check(what: str) -> None:
    if _enabled and _serving.get() and asyncio._get_running_loop() is not None:
        raise BlockingOnEventLoop(f"{what} called on the event loop thread; run it in the thread pool")
