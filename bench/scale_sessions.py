"""Live SSO sessions, opened by the provider's own code, and what each costs in Redis.

Each session is opened as a password sign-in at the portal opens one: `SessionManager.start` (the
register row in PostgreSQL first, then the copy in Redis) and `add_client` (the portal received
tokens). Several threads open them at once, since each takes a few round trips. The cost is
`MEMORY USAGE` of every key a session created, over a sample of sessions, and the growth of the
prefix's key count per session (to show no other key is created per session).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from sqlalchemy import create_engine

from idp.sessions.devices import describe
from idp.sessions.register import SqlSessionRegister
from idp.sessions.sso import SessionManager, store_key
from idp.settings import Settings
from idp.storage.redis import RedisStore

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
_THREADS = 24
_SAMPLE = 2_000


@dataclass(frozen=True, slots=True)
class SessionCost:
    sessions: int
    seconds: float
    keys_per_session: float
    sampled: int
    bytes_per_session_p50: int
    bytes_per_session_max: int
    bytes_per_session_mean: float
    used_memory_per_session: float  # growth of the server's used_memory / sessions (Redis is shared: indicative)
    value_bytes: int  # length of one session's stored value


def open_sessions(settings: Settings, database_url: str, person_ids: Sequence[str], count: int,
                  client_id: str) -> SessionCost:
    assert settings.redis_url is not None
    raw = redis.Redis.from_url(settings.redis_url)
    # Filling the register is set-up, not what is measured: no need to wait for each commit's flush.
    engine = create_engine(database_url, pool_size=_THREADS, connect_args={"options": "-c synchronous_commit=off"})
    store = RedisStore(settings.redis_url, prefix=settings.redis_prefix, timeout=5.0)
    manager = SessionManager(store, SqlSessionRegister(engine), ttl=settings.session_ttl,
                             idle_timeout=settings.session_idle_timeout,
                             touch_interval=settings.session_touch_interval)
    device = describe(USER_AGENT)
    try:
        keys_before = _count_keys(raw, settings.redis_prefix)
        memory_before = _used_memory(raw)

        def one(n: int) -> str:
            cookie, session = manager.start(person_ids[n % len(person_ids)], "pwd", device=device, ip="127.0.0.1")
            manager.add_client(cookie, session, client_id)
            return cookie

        started = time.monotonic()
        pool = ThreadPoolExecutor(_THREADS)
        try:
            cookies = list(pool.map(one, range(count)))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # interrupted: drop what has not started
        seconds = time.monotonic() - started
        memory_after = _used_memory(raw)
        keys_after = _count_keys(raw, settings.redis_prefix)
        sample = random.Random(7).sample(cookies, min(_SAMPLE, len(cookies)))
        sizes = sorted(_session_bytes(raw, settings.redis_prefix, c) for c in sample)
        value = raw.get(settings.redis_prefix + store_key(cookies[0])) or b""
    finally:
        store.close()
        engine.dispose()
        raw.close()
    return SessionCost(
        sessions=count, seconds=round(seconds, 1), keys_per_session=(keys_after - keys_before) / count,
        sampled=len(sizes), bytes_per_session_p50=sizes[len(sizes) // 2], bytes_per_session_max=sizes[-1],
        bytes_per_session_mean=round(sum(sizes) / len(sizes), 1),
        used_memory_per_session=round((memory_after - memory_before) / count, 1), value_bytes=len(value),
    )


def _session_bytes(raw: redis.Redis, prefix: str, cookie: str) -> int:
    """MEMORY USAGE summed over every key the session created: its copy (the only one, see keys_per_session)."""
    usage = raw.memory_usage(prefix + store_key(cookie), samples=0)
    if usage is None:
        raise RuntimeError("a session's key is missing from Redis")
    return int(usage)


def _count_keys(raw: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in raw.scan_iter(match=prefix + "*", count=10_000))


def _used_memory(raw: redis.Redis) -> int:
    return int(raw.info("memory")["used_memory"])
