"""The hottest endpoints, served ahead of FastAPI's routing and dependency machinery.

Discovery and JWKS are public, identical for everyone and change only on key rotation: they are
pre-serialized bytes. The token, introspection and revocation endpoints are machine-to-machine
form posts called at very high rates; they go straight to the Authlib server (see
`idp.oauth.token`). The health checks (`idp.web.health`) are polled every second. Everything else
falls through to the FastAPI app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from idp.web import loop_guard

Body = Callable[[], Awaitable[bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class FastPaths:
    def __init__(
        self, app: ASGIApp, *, documents: dict[str, Body], posts: dict[str, Handler],
        gets: dict[str, Handler] | None = None, max_age: int = 300,
    ) -> None:
        self.app = app
        self._documents = documents
        self._posts = posts
        self._gets = gets or {}
        self._cache = f"public, max-age={max_age}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            loop_guard.serving_request()
            method, path = scope["method"], scope["path"]
            if method == "POST" and path in self._posts:
                await self._posts[path](scope, receive, send)
                return
            if method in ("GET", "HEAD") and path in self._documents:
                await self._document(await self._documents[path](), method, send)
                return
            if method in ("GET", "HEAD") and path in self._gets:
                await self._gets[path](scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _document(self, body: bytes, method: str, send: Send) -> None:
        await send({
            "type": "http.response.start", "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", self._cache),
                (b"access-control-allow-origin", b"*"),
            ],
        })
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
