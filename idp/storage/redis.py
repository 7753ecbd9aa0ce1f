"""Redis implementation of the ephemeral `Store`, shared by every worker and instance: one server,
or a Redis Cluster named by a `redis+cluster://host:port[,host:port…]/` URL.

Every operation of the store touches one key (`take` is GETDEL, `incr` a one-key script, `add` and
`replace` are SET NX / SET XX), so in a cluster each record may live on any primary and no operation
ever needs two keys in one hash slot; `ttl_many` is a pipeline of independent reads, which the cluster
client sends to each key's node. A prefix may not hold a hash tag (`idp.settings`): it would put every
key in one slot.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterError, RedisClusterException
from redis.retry import Retry

from idp import metrics
from idp.storage.breaker import CircuitBreaker
from idp.storage.store import StoreUnavailable
from idp.web import loop_guard

T = TypeVar("T")
log = logging.getLogger("idp.backends")

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
# What means "the store is down" rather than "the store refused a command": a node that cannot be
# reached or answers too late, a cluster that says it is down (CLUSTERDOWN, while a failed primary
# has no replica to take over), and the cluster client's own errors (no node reachable, a slot no
# node serves), which are not RedisErrors.
_OUTAGES = (redis.ConnectionError, redis.TimeoutError, ClusterError, RedisClusterException)


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """The startup nodes and connection options of `redis+cluster://[user:password@]host:port[,…][/]`
    (`rediss+cluster://` for TLS). Any node is enough to find the others; listing several lets the
    provider start while one of them is down. A cluster has only database 0, so no other path."""
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES or parts.path not in ("", "/", "/0") or parts.query or parts.fragment:
        raise ValueError("a Redis Cluster URL is redis+cluster://[user:password@]host:port[,host:port...]/")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    options: dict[str, Any] = {"ssl": True} if parts.scheme == "rediss+cluster" else {}
    if userinfo:
        user, _, password = userinfo.partition(":")
        options |= {"username": unquote(user) or None, "password": unquote(password) or None}
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a Redis Cluster node is host:port, not {node.strip()!r}")
        nodes.append((host.strip("[]"), int(port)))
    return nodes, options


class _Cluster(RedisCluster):
    # Retried once, after redis-py refreshed its map of slots: only a refused or broken connection
    # (a node restarted, or its slots moved to a promoted replica), as for one server. A timeout is
    # not retried: it would double the wait on a node that hangs.
    ERRORS_ALLOW_RETRY = (redis.ConnectionError,)


class RedisStore:
    """All keys live under `prefix`, so several deployments (or test runs) can share one server.

    Every command is bounded by `timeout` and goes through a circuit breaker: a Redis that is down
    or hangs costs one timeout, then `StoreUnavailable` at once until a probe finds it back. In a
    cluster the breaker is the whole store's: a failed primary holds its share of every kind of record
    (and once the cluster marks it failed, every node answers CLUSTERDOWN), so the store is down.
    """

    _INCR = """
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
    return n
    """

    def __init__(self, url: str, prefix: str = "idp:", *, timeout: float = 0.5,
                 breaker_interval: float = 5.0) -> None:
        self._prefix = prefix
        self.breaker = CircuitBreaker("ephemeral store (Redis)", breaker_interval, backend="store")
        self._redis: Any = None
        self._ping: dict[str, Any] = {}
        # The event loop's own client, for the reads made before a request goes to a thread, with
        # the loop it belongs to (connections belong to the loop that opened them).
        self._async: tuple[asyncio.AbstractEventLoop, Any] | None = None
        if is_cluster_url(url):
            nodes, options = cluster_nodes(url)  # a malformed URL stops the start, not a request
            self._cluster = lambda: _Cluster(
                startup_nodes=[ClusterNode(host, port) for host, port in nodes], socket_timeout=timeout,
                socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1), **options)
            self._ping = {"target_nodes": RedisCluster.PRIMARIES}  # ready only if every primary is
            self._connecting = threading.Lock()
            self._async_client = lambda: redis.asyncio.cluster.RedisCluster(
                startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in nodes],
                socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=redis.asyncio.retry.Retry(NoBackoff(), 1), **options)
        else:
            self._async_client = lambda: redis.asyncio.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=redis.asyncio.retry.Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)))
            # One retry, only for a broken pooled connection (Redis restarted): redis-py's default
            # retries with backoff would multiply the wait on a Redis that hangs.
            self._use(redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            ))

    def _use(self, client: Any) -> None:
        self._incr = client.register_script(self._INCR)
        self._redis = client

    def _connect(self) -> None:
        """A cluster client reads the map of slots when it is made: made at the first command, inside
        the breaker, so that a provider starts (and answers 503) while the cluster is down."""
        with self._connecting:
            if self._redis is None:
                self._use(self._cluster())  # no node reachable: a RedisClusterException, an outage

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, command: Callable[[], T]) -> T:
        loop_guard.check("Redis")
        with self._guarded():
            if self._redis is None:
                self._connect()
            return command()

    async def _call_async(self, command: Callable[[Any], Awaitable[T]]) -> T:
        with self._guarded():
            loop = asyncio.get_running_loop()
            if self._async is None or self._async[0] is not loop:
                # A server has one loop, so this happens once. Another loop (a test client's)
                # replaces the client: its connections belong to the old loop and go with it.
                self._async = (loop, self._async_client())  # a cluster's reads its slots at first use
            return await command(self._async[1])

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """One command behind the breaker: refused at once while Redis is known down; an outage
        opens the breaker, a refusal is logged; both are `StoreUnavailable` (503), never a 500."""
        if not self.breaker.allow():
            raise StoreUnavailable("Redis is down", retry_after=self.breaker.retry_after())
        try:
            yield
        except _OUTAGES as exc:
            self.breaker.failed(exc)
            raise StoreUnavailable(str(exc), retry_after=self.breaker.retry_after()) from None
        except redis.RedisError as exc:
            metrics.backend_error("store", "refused")
            log.error("Redis refused a command: %s", exc)
            raise StoreUnavailable(str(exc)) from None
        self.breaker.succeeded()

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

    def delete(self, *keys: str) -> None:
        # One DEL; a cluster client splits it by slot (it need not be atomic: each key is forgotten).
        if keys:
            self._call(lambda: self._redis.delete(*(self._k(key) for key in keys)))

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

        async def run(client: Any) -> list[int]:
            if not await client.exists(*prefixed):
                return [-2] * len(prefixed)
            return [await client.pttl(key) for key in prefixed]

        return [None if ms is None or ms < 0 else ms / 1000.0 for ms in await self._call_async(run)]

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless Redis answers (readiness checks)."""
        self._call(lambda: self._redis.ping(**self._ping))

    def flush_prefix(self) -> None:
        """Delete every key under this store's prefix (used by tests on their own prefix). In a
        cluster, SCAN runs on every primary (redis-py's cluster `scan_iter`)."""
        def run() -> None:
            for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
                self._redis.delete(key)

        self._call(run)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
