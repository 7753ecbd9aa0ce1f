"""Headers every response carries, whoever produced it: pages, JSON (the fast paths included),
redirects, static files and error answers.

- `X-Content-Type-Options: nosniff`: browsers never second-guess a declared content type.
- `Strict-Transport-Security` on an https issuer: after one visit, the browser refuses plain http
  to this host and its subdomains for two years (not on plain-http development, where browsers
  ignore it anyway and it would mislead).

The outermost ASGI layer, so nothing can bypass it. It appends prebuilt header tuples to the
response start message: no parsing, cheap enough for the token endpoint's rates. Page-specific
headers (CSP and the like) stay with the pages (`idp.web.pages.security_headers`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = b"max-age=63072000; includeSubDomains"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        headers = [(b"x-content-type-options", b"nosniff")]
        if https:
            headers.append((b"strict-transport-security", HSTS))
        self._headers = tuple(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *self._headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
