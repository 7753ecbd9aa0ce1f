"""Discovery and JWKS served straight from pre-serialized bytes, ahead of FastAPI routing.

These two documents are fetched by every relying party and API gateway, often per request; they
are public, identical for everyone and change only on key rotation, so they skip the framework.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

Body = Callable[[], bytes]


class FastPaths:
    def __init__(self, app: ASGIApp, routes: dict[str, Body], max_age: int = 300) -> None:
        self.app = app
        self._routes = routes
        self._cache = f"public, max-age={max_age}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            body_of = self._routes.get(scope["path"])
            if body_of is not None:
                body = body_of()
                await send({
                    "type": "http.response.start", "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", self._cache),
                        (b"access-control-allow-origin", b"*"),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                })
                await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
                return
        await self.app(scope, receive, send)
