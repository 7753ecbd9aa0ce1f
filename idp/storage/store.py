"""Ephemeral state: SSO sessions, login transactions, codes, rate-limit windows, revoked token ids.

One small protocol with two implementations: `MemoryStore` (one process, the default) and
`RedisStore` in `idp/storage/redis.py` (one server or a Redis Cluster). Every operation touches one
key, so a cluster never needs two keys in one hash slot. Both pass the same contract suite in
`tests/idp/storage/test_store.py`. Code reads and writes records through typed classes that own their
key prefixes (`idp.storage.records`), every prefix listed once in `idp.storage.keys`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from idp.storage.breaker import Unavailable


class StoreUnavailable(Unavailable):
    """The backing server could not be reached; callers answer 503, never 500."""

    backend = "store"


class Store(Protocol):
    def get(self, key: str) -> bytes | None:
        """Return the value, or None if the key is unknown or expired."""

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store value under key for ttl seconds, replacing any previous value."""

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store value only if key is absent; True if stored. Used to claim a one-time id."""

    def replace(self, key: str, value: bytes, ttl: float) -> bool:
        """Store value only if key is present; True if stored. Updates a copy without ever
        re-creating one that was deleted meanwhile."""

    def take(self, key: str) -> bytes | None:
        """Return the value and delete it atomically: of concurrent callers only one gets it."""

    def delete(self, *keys: str) -> None:
        """Forget the keys (in one round trip); no error for any that is absent."""

    def incr(self, key: str, window: float) -> int:
        """Add one to a counter and return it; the counter expires window seconds after it started."""

    def ttl(self, key: str) -> float | None:
        """Seconds until key expires, or None if it is absent."""

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        """`ttl` of several keys in one round trip."""

    async def ttl_many_async(self, keys: list[str]) -> list[float | None]:
        """`ttl_many` for the event loop: it waits without blocking the loop."""


class MemoryStore:
    """In-process store: correct for a single worker process, lost on restart."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes | int, float]] = {}
        self._lock = threading.Lock()
        self._ops = 0

    def _live(self, key: str, now: float) -> tuple[bytes | int, float] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item

    def _sweep(self, now: float) -> None:
        # Expired entries are dropped lazily on access; a periodic sweep bounds memory for keys
        # that are written once and never read again (e.g. rate-limit windows).
        self._ops += 1
        if self._ops % 4096 == 0:
            for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
                del self._data[key]

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._live(key, self._clock())
        if item is None or isinstance(item[0], int):
            return None
        return item[0]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._data[key] = (value, now + ttl)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._sweep(now)
            self._data[key] = (value, now + ttl)
            return True

    def replace(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) is None:
                return False
            self._data[key] = (value, now + ttl)
            return True

    def take(self, key: str) -> bytes | None:
        with self._lock:
            item = self._live(key, self._clock())
            if item is None:
                return None
            del self._data[key]
        return item[0] if isinstance(item[0], bytes) else None

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key: str, window: float) -> int:
        with self._lock:
            now = self._clock()
            item = self._live(key, now)
            if item is None or not isinstance(item[0], int):
                self._sweep(now)
                self._data[key] = (1, now + window)
                return 1
            count = item[0] + 1
            self._data[key] = (count, item[1])
            return count

    def ttl(self, key: str) -> float | None:
        with self._lock:
            now = self._clock()
            item = self._live(key, now)
        return None if item is None else item[1] - now

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        return [self.ttl(key) for key in keys]

    async def ttl_many_async(self, keys: list[str]) -> list[float | None]:
        return self.ttl_many(keys)  # memory: nothing to wait for
