"""What a person or a program sees while a backend is down: 503 with `Retry-After`, never a 500.

Programs (the token, introspection, revocation and userinfo endpoints, or a client that asks for
JSON rather than HTML) get an OAuth-style JSON error (`temporarily_unavailable`, RFC 6749 §4.1.2.1);
browsers get the translated error page. The circuit breakers log the failure itself, once: a
request refused because a breaker is open adds no log line.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.storage.breaker import Unavailable
from idp.web import error_map
from idp.web.pages import Pages

API_PATHS = frozenset({"/token", "/introspect", "/revoke", "/userinfo"})
TITLE = error_map.UNAVAILABLE.title
MESSAGE = error_map.UNAVAILABLE.message


def api_response(exc: Unavailable) -> Response:
    return error_map.api_response(exc)


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path in API_PATHS or ("application/json" in accept and "text/html" not in accept)


def response(pages: Pages, request: Request, exc: Unavailable) -> Response:
    if wants_json(request):
        return api_response(exc)
    page = pages.error(request, TITLE, MESSAGE, status_code=503)
    page.headers["Retry-After"] = str(exc.retry_after)
    return page
