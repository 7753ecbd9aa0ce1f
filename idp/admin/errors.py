"""Every answer of the admin API that is not a success, in one shape: `{"error": …, "detail": …}`.

`error` is a short machine-readable code (RFC 6750's `invalid_token` and `insufficient_scope` for
authentication, `invalid_request`, `not_found`, `conflict`, `temporarily_unavailable`), `detail`
says why in English. Malformed input (bad JSON, a wrong type, an unknown field) is a 400
`invalid_request`, never FastAPI's 422 nor a 500; a backend outage is a 503 with `Retry-After`
(`idp.web.error_map`).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from clients.errors import ClientsError
from clients.store import ClientExists
from idp.errors import whole_seconds
from idp.people_admin import BlocksOutOfReach, NotEnrollable
from idp.storage.breaker import Unavailable
from idp.web.error_map import UNAVAILABLE
from keys.errors import KeysError, KeyStoreUnavailable
from legal_entities.errors import EntitiesError
from levels.errors import LevelsError

log = logging.getLogger("idp")

NO_STORE = {"Cache-Control": "no-store"}


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    detail: str


class AdminError(Exception):
    """An answer other than success, raised anywhere in a request and answered by `install`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def not_found(detail: str) -> AdminError:
    return AdminError(404, "not_found", detail)


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers={**NO_STORE, **(headers or {})})


def _domain(exc: Exception) -> tuple[int, str] | None:
    """The status and code for an error a domain package raised on purpose; None for any other."""
    if isinstance(exc, KeyStoreUnavailable):
        return None
    if isinstance(exc, ClientExists):
        return 409, "conflict"
    if isinstance(exc, BlocksOutOfReach):
        return 409, "conflict"
    if isinstance(exc, LookupError):
        return 404, "not_found"
    if isinstance(exc, ValueError | NotEnrollable):
        return 400, "invalid_request"
    return None


def _validation_detail(exc: RequestValidationError) -> str:
    # Where and what, never the value sent (it may be a secret or a national code).
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "Malformed request: " + ("; ".join(parts) or "the body could not be read.")


def install(app: FastAPI) -> None:
    """Answer every error of `app` in the one shape."""

    @app.exception_handler(AdminError)
    async def _admin(request: Request, exc: AdminError) -> Response:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return error_response(400, "invalid_request", _validation_detail(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        detail = str(exc.detail)
        if exc.status_code == 400:
            detail = f"Malformed request: {detail}."  # a body that could not be read at all
        return error_response(exc.status_code, code, detail, dict(exc.headers or {}))

    @app.exception_handler(Unavailable)
    async def _down(request: Request, exc: Unavailable) -> Response:
        return error_response(503, UNAVAILABLE.error, UNAVAILABLE.description,
                              {"Retry-After": str(whole_seconds(exc.retry_after))})

    for base in (ClientsError, EntitiesError, LevelsError, KeysError, BlocksOutOfReach, NotEnrollable):
        app.add_exception_handler(base, _domain_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "server_error", "Something went wrong on our side.")


async def _domain_error(request: Request, exc: Exception) -> Response:
    row = _domain(exc)
    if row is None:
        if isinstance(exc, KeyStoreUnavailable):
            return error_response(503, UNAVAILABLE.error, UNAVAILABLE.description, {"Retry-After": "5"})
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return error_response(500, "server_error", "Something went wrong on our side.")
    return error_response(*row, str(exc) or type(exc).__name__)


def responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The error answers an operation documents, each with the `ErrorBody` schema."""
    says = {
        400: "Malformed or invalid input (bad JSON, a wrong type, a rule of the domain broken).",
        401: "No access token, or one that is invalid, expired, revoked, for another audience, or of a"
             " disabled or deleted client (`WWW-Authenticate: Bearer error=\"invalid_token\"`).",
        403: "The token lacks the scope this operation needs (`WWW-Authenticate: Bearer"
             " error=\"insufficient_scope\", scope=…`).",
        404: "No such object.",
        409: "Conflicts with what exists.",
        503: "A backend (database, store) is down; try again after `Retry-After` seconds.",
    }
    return {s: {"model": ErrorBody, "description": says[s]} for s in (400, 401, 403, 503, *statuses)}
