"""Health checks for load balancers and orchestrators, cheap enough to poll every second.

`/healthz`: the process answers (liveness); it touches no backend, so a database or Redis outage
never gets healthy workers restarted. `/readyz`: the database and the ephemeral store are reachable
(readiness); while a circuit breaker knows a backend is down it answers 503 at once, otherwise it
pings both from a thread of its own (never the event loop, never a request thread), each bounded by
that backend's timeout.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
import orjson
from sqlalchemy import Engine, text
from starlette.types import Receive, Scope, Send

from idp.storage.breaker import CircuitBreaker
from idp.storage.database import breaker_of
from idp.storage.store import Store


class Health:
    def __init__(self, engine: Engine, store: Store) -> None:
        self._engine = engine
        self._store = store
        self._breakers: dict[str, CircuitBreaker] = {}
        for name, breaker in (("database", breaker_of(engine)), ("store", getattr(store, "breaker", None))):
            if isinstance(breaker, CircuitBreaker):
                self._breakers[name] = breaker
        self._limiter = anyio.CapacityLimiter(1)

    async def healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _send(send, scope["method"], 200, {"status": "ok"}, None)

    async def readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        down = [name for name, b in self._breakers.items() if b.state == "open"]
        if not down:
            down = await anyio.to_thread.run_sync(self._ping, limiter=self._limiter)
        if not down:
            await _send(send, scope["method"], 200, {"status": "ready"}, None)
            return
        retry = max([1, *(b.retry_after() for name, b in self._breakers.items() if name in down)])
        await _send(send, scope["method"], 503, {"status": "unavailable", "down": down}, retry)

    def _ping(self) -> list[str]:
        down = []
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - whatever the failure, the database is not usable
            down.append("database")
        ping = getattr(self._store, "ping", None)
        if ping is not None:
            try:
                ping()
            except Exception:  # noqa: BLE001 - likewise for the store
                down.append("store")
        return down


async def _send(send: Send, method: str, status: int, body: dict[str, object], retry_after: int | None) -> None:
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})
