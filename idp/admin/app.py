"""The admin API's FastAPI application, mounted by `idp.web.app.create_app` at `ADMIN_PATH`.

Its own application, so it has its own OpenAPI 3.1 document (`/admin/v1/openapi.json`), its own
error shape (`idp.admin.errors`) and nothing of the browser pages' handling. Handlers and the
authentication dependency are plain `def`: FastAPI runs them in the thread pool, as the rest of the
app runs its synchronous database work, so the event loop never waits on the database.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from idp.admin import clients, entities, keys, people
from idp.admin.auth import operator_dependency, security_scheme
from idp.admin.errors import error_response, install
from idp.services import Services
from idp.settings import Settings
from idp.web.input_limits import MAX_BODY

ADMIN_PATH = "/admin/v1"


def admin_audience(settings: Settings) -> str:
    """The audience (RFC 8707 resource) an operator client's token must be for."""
    return settings.endpoint(ADMIN_PATH)


class BodyLimit:
    """At most `MAX_BODY` bytes of body, the bound every other body of the provider has (a client's
    JWK Set is the largest need): a larger declared length is a JSON 413 before anything is read; a
    stream that runs past it stops being read, and is answered as a body that could not be read."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            response = error_response(413, "invalid_request", f"The body is larger than {self.limit} bytes.")
            await response(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ValueError("body over the limit")
            return message

        await self.app(scope, bounded, send)


def build_admin_app(svc: Services) -> ASGIApp:
    """The admin API, within its body limit (`BodyLimit`)."""
    return BodyLimit(admin_api(svc))


def admin_api(svc: Services) -> FastAPI:
    settings = svc.settings
    audience = admin_audience(settings)
    app = FastAPI(
        title="National identity provider: admin API", version="1",
        summary="Clients, services, people, legal entities and signing keys, for automation.",
        description=(
            "Every call needs an access token of an operator client from this provider's token endpoint "
            f"(`client_credentials`, resource/audience `{audience}`) with the admin scopes: "
            "`idp.admin.clients`, `idp.admin.people`, `idp.admin.entities`, `idp.admin.keys` read and change "
            "their group; `idp.admin.read` reads every group. Errors are `{\"error\": …, \"detail\": …}`; "
            "malformed input is a 400 `invalid_request`. Every change is audited as `client:<client_id>`."),
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,
        servers=[{"url": audience}], root_path_in_servers=False,
    )
    app.state.services = svc
    install(app)
    scheme = security_scheme(settings.endpoint("/token"))
    current = operator_dependency(svc, scheme, audience)
    for module in (clients, people, entities, keys):
        app.include_router(module.build_router(svc, current))
    _document_400_not_422(app)
    return app


def _document_400_not_422(app: FastAPI) -> None:
    """FastAPI documents a 422 for every operation with input; malformed input is a 400 here
    (`idp.admin.errors`), which every operation documents already: drop the 422 and its schemas."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            for operations in doc.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
