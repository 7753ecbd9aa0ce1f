"""Redis implementation of the ephemeral `Store`, shared by every worker and instance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from idp.store import StoreUnavailable


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(str(exc)) from None


class RedisStore:
    """All keys live under `prefix`, so several deployments (or test runs) can share one server."""

    _INCR = """
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
    return n
    """

    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._incr = self._redis.register_script(self._INCR)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str) -> bytes | None:
        with _mapped_errors():
            value = self._redis.get(self._k(key))
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with _mapped_errors():
            self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with _mapped_errors():
            return bool(self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    def replace(self, key: str, value: bytes, ttl: float) -> bool:
        with _mapped_errors():
            return bool(self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), xx=True))

    def take(self, key: str) -> bytes | None:
        with _mapped_errors():
            value = self._redis.getdel(self._k(key))
        return value if isinstance(value, bytes) else None

    def delete(self, key: str) -> None:
        with _mapped_errors():
            self._redis.delete(self._k(key))

    def incr(self, key: str, window: float) -> int:
        with _mapped_errors():
            return int(self._incr(keys=[self._k(key)], args=[max(1, int(window * 1000))]))

    def ttl(self, key: str) -> float | None:
        with _mapped_errors():
            ms = self._redis.pttl(self._k(key))
        return None if ms is None or ms < 0 else ms / 1000.0

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        with _mapped_errors():
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.pttl(self._k(key))
            values = pipe.execute()
        return [None if ms is None or ms < 0 else ms / 1000.0 for ms in values]

    def flush_prefix(self) -> None:
        """Delete every key under this store's prefix (used by tests on their own prefix)."""
        with _mapped_errors():
            for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
                self._redis.delete(key)

    def close(self) -> None:
        self._redis.close()
