"""Redis implementation of the ephemeral `Store`, shared by every worker and instance."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar
from weakref import WeakKeyDictionary

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from idp.storage.breaker import CircuitBreaker
from idp.storage.store import StoreUnavailable
from idp.web import loop_guard

T = TypeVar("T")
log = logging.getLogger("idp.backends")


class RedisStore:
    """All keys live under `prefix`, so several deployments (or test runs) can share one server.

    Every command is bounded by `timeout` and goes through a circuit breaker: a Redis that is down
    or hangs costs one timeout, then `StoreUnavailable` at once until a probe finds it back.
    """

    _INCR = """
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
    return n
    """

    def __init__(self, url: str, prefix: str = "idp:", *, timeout: float = 0.5,
                 breaker_interval: float = 5.0) -> None:
        # One retry, only for a broken pooled connection (Redis restarted): redis-py's default
        # retries with backoff would multiply the wait on a Redis that hangs.
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        self._redis = redis.Redis.from_url(
            url, **options, retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))
        # The event loop's own client, for the reads made before a request goes to a thread.
        # Connections belong to the loop that opened them, so each loop gets its own client.
        self._async_options = (url, options)
        self._async: WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = WeakKeyDictionary()
        self._prefix = prefix
        self._incr = self._redis.register_script(self._INCR)
        self.breaker = CircuitBreaker("ephemeral store (Redis)", breaker_interval)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, command: Callable[[], T]) -> T:
        loop_guard.check("Redis")
        if not self.breaker.allow():
            raise StoreUnavailable("Redis is down", retry_after=self.breaker.retry_after())
        try:
            result = command()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.breaker.failed(exc)
            raise StoreUnavailable(str(exc), retry_after=self.breaker.retry_after()) from None
        except redis.RedisError as exc:
            log.error("Redis refused a command: %s", exc)
            raise StoreUnavailable(str(exc)) from None
        self.breaker.succeeded()
        return result

    async def _call_async(self, command: Callable[[redis.asyncio.Redis], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            raise StoreUnavailable("Redis is down", retry_after=self.breaker.retry_after())
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            url, options = self._async_options
            client = self._async[loop] = redis.asyncio.Redis.from_url(
                url, **options, retry=redis.asyncio.retry.Retry(NoBackoff(), 1,
                                                                 supported_errors=(redis.ConnectionError,)))
        try:
            result = await command(client)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.breaker.failed(exc)
            raise StoreUnavailable(str(exc), retry_after=self.breaker.retry_after()) from None
        except redis.RedisError as exc:
            log.error("Redis refused a command: %s", exc)
            raise StoreUnavailable(str(exc)) from None
        self.breaker.succeeded()
        return result

    def get(self, key: str) -> bytes | None:
        value = self._call(lambda: self._redis.get(self._k(key)))
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self._call(lambda: self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000))))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self._call(lambda: self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True)))

    def replace(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self._call(lambda: self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), xx=True)))

    def take(self, key: str) -> bytes | None:
        value = self._call(lambda: self._redis.getdel(self._k(key)))
        return value if isinstance(value, bytes) else None

    def delete(self, key: str) -> None:
        self._call(lambda: self._redis.delete(self._k(key)))

    def incr(self, key: str, window: float) -> int:
        return int(self._call(lambda: self._incr(keys=[self._k(key)], args=[max(1, int(window * 1000))])))

    def ttl(self, key: str) -> float | None:
        ms = self._call(lambda: self._redis.pttl(self._k(key)))
        return None if ms is None or ms < 0 else ms / 1000.0

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        def run() -> list[int]:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(self._k(key))
            return pipe.execute()  # type: ignore[no-any-return]

        return [None if ms is None or ms < 0 else ms / 1000.0 for ms in self._call(run)]

    async def ttl_many_async(self, keys: list[str]) -> list[float | None]:
        """`ttl_many` from the event loop, without blocking it. Keys that exist are rare (they
        mark a throttled caller), so one EXISTS answers the usual case in a single command."""
        prefixed = [self._k(key) for key in keys]

        async def run(client: redis.asyncio.Redis) -> list[int]:
            if not await client.exists(*prefixed):
                return [-2] * len(prefixed)
            return [await client.pttl(key) for key in prefixed]

        return [None if ms is None or ms < 0 else ms / 1000.0 for ms in await self._call_async(run)]

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless Redis answers (readiness checks)."""
        self._call(self._redis.ping)

    def flush_prefix(self) -> None:
        """Delete every key under this store's prefix (used by tests on their own prefix)."""
        def run() -> None:
            for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
                self._redis.delete(key)

        self._call(run)

    def close(self) -> None:
        self._redis.close()
