"""Circuit breakers: a backend found down answers 503 at once instead of making every request wait.

One breaker per backend (the ephemeral store, the database). Closed, calls go through. A connection
failure or timeout opens it: for `interval` seconds every call fails at once with `Unavailable`
(the endpoints answer 503 with `Retry-After`). After the interval one call is let through as a
probe (half-open); its success closes the breaker, its failure opens it for another interval. A
probe that never reports back is harmless: letting it through re-armed the interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from idp import metrics
from idp.errors import whole_seconds

log = logging.getLogger("idp.backends")


class Unavailable(Exception):
    """A backend cannot be reached; answered with 503 and `Retry-After`, never a 500."""

    backend = "backend"

    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self, name: str, interval: float, clock: Callable[[], float] = time.monotonic, *, backend: str = "backend",
    ) -> None:
        self.name = name
        self._errors = metrics.BACKEND_ERRORS.labels(backend, "unreachable")  # `backend`: store or database
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None  # None: closed

    @property
    def state(self) -> str:
        opened_at = self._opened_at
        if opened_at is None:
            return "closed"
        return "half-open" if self._clock() - opened_at >= self.interval else "open"

    def retry_after(self) -> int:
        """Whole seconds until the next probe (at least 1), for the `Retry-After` header."""
        opened_at = self._opened_at
        if opened_at is None:
            return 1
        return whole_seconds(opened_at + self.interval - self._clock())

    def allow(self) -> bool:
        """True if a call may go to the backend now: closed, or this call is the probe."""
        if self._opened_at is None:  # the hot path takes no lock
            return True
        with self._lock:
            opened_at = self._opened_at
            if opened_at is None:
                return True
            now = self._clock()
            if now - opened_at < self.interval:
                return False
            self._opened_at = now  # this call probes; the others wait for the next interval
            return True

    def succeeded(self) -> None:
        if self._opened_at is None:
            return
        with self._lock:
            if self._opened_at is not None:
                self._opened_at = None
                log.warning("%s is reachable again", self.name)

    def failed(self, reason: object) -> None:
        """The backend did not answer: open (or keep open) the breaker. One log line, no traceback."""
        self._errors.inc()
        with self._lock:
            was_closed = self._opened_at is None
            self._opened_at = self._clock()
        if was_closed:
            log.error("%s unavailable, answering 503 for %.0f s before trying again: %s",
                      self.name, self.interval, reason)
        else:
            log.warning("%s still unavailable: %s", self.name, reason)
