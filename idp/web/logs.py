"""Every request's id, its access log line and its HTTP metrics: the outermost ASGI layer.

The request id is the caller's `X-Request-ID` when it is a sane token (1-128 characters of
letters, digits and `-_.:+/=`), so a proxy's or a portal's id follows the request through our
logs; otherwise one is made. It is echoed in the response's `X-Request-ID` and carried by every
line logged while the request is served (`idp.logs.RequestContext`).

The access log line (`event: http.request`) holds the method, the route template, the path (only
where it is the template itself or nothing matched: a path with parameters can hold a national
code, as the admin API's do, or a session id), the status, the duration and the client's address
(`idp.web.client_address`), never the query string: on /authorize, /end_session and the sign-in
pages it holds state, nonce, login_hint, id_token_hint, request objects and codes, and a list of
names to hide would fail open on the next parameter someone adds. The route template says which
endpoint answered; the request id ties the line to everything else logged for it.

The route template is the matched Starlette route's (`/account/sessions/{sid}`); the fast paths
(`idp.web.fast_paths`) have fixed paths, given here; nothing matched is `unmatched`, so a scanner
cannot fill the metrics with labels. The work per request is a few dictionary lookups, one clock
read at each end, and one log line when the access log is on.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp import logs
from idp.web.client_address import Network, client_address
from idp.web.metrics import HttpMetrics

log = logging.getLogger("idp.access")

HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")
UNMATCHED = "unmatched"
MAX_PATH = 200  # characters of the path kept on a log line


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new random one."""
    for name, value in headers:
        if name == HEADER:
            if _SANE.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(12).hex()


class AccessLog:
    def __init__(
        self, app: ASGIApp, *, fixed_routes: Iterable[str], trusted_proxies: Sequence[Network], enabled: bool = True,
    ) -> None:
        self.app = app
        self._fixed = frozenset(fixed_routes)
        self._proxies = tuple(trusted_proxies)
        self._enabled = enabled
        self._metrics = HttpMetrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = request_id(scope["headers"])
        echoed = (HEADER, rid.encode("ascii"))
        if scope["path"] in self._fixed:
            scope["idp.route"] = scope["path"]
        context = logs.RequestContext(rid, scope)
        logs.begin_request(context)
        status = 500  # the answer if the application fails before it starts one (the server sends it)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - start
            route = context.route or UNMATCHED
            self._metrics.observe(route, scope["method"], status, seconds)
            if self._enabled and log.isEnabledFor(logging.INFO):
                self._log(scope, route, status, seconds)

    def _log(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        peer = scope.get("client")
        forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
        path = scope["path"][:MAX_PATH] if route == UNMATCHED or "{" not in route else None
        log.info("http.request", extra=logs.fields(
            "http.request", route=route, method=scope["method"], path=path, status=status,
            duration_ms=round(seconds * 1000, 2),
            client=client_address(peer[0] if peer else None, forwarded, self._proxies),
        ))
