"""Request-scoped helpers shared by the endpoint modules."""

from __future__ import annotations

import math
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

from idp.client_address import Network, client_address
from idp.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The one answer to "who is asking", for rate limits, sessions and the audit log alike
    (`settings.trusted_proxies`; see `idp.client_address`)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted_proxies)


def retry_after(response: Response, seconds: float) -> Response:
    """Say how long to wait (RFC 9110 §10.2.3, whole seconds, at least one): every 429 carries it."""
    response.headers["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response
