"""Token (RFC 6749 §3.2), introspection (RFC 7662 §2) and revocation (RFC 7009 §2) endpoints.

https://www.rfc-editor.org/rfc/rfc6749#section-3.2 — the grants live in `idp/grants/`; this
module only adapts HTTP. These are plain ASGI handlers mounted by `idp.fast_paths`: at thousands
of requests a second the framework's routing was a large share of the cost.
"""

from __future__ import annotations

import logging

import anyio.to_thread
import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from idp.endpoints.deps import client_ip
from idp.errors import OAuth2Error
from idp.oauth_request import HttpRequest, read_form
from idp.services import Services
from idp.store import StoreUnavailable

log = logging.getLogger("idp")

# Grants that touch no database on the common path (cached client, one store call) run on the
# event loop; a thread hop would cost more than the work itself.
_INLINE_GRANTS = frozenset({"client_credentials"})


class OAuthEndpoint:
    """One back-channel endpoint: `token`, or an Authlib endpoint name (introspection, revocation)."""

    def __init__(self, services: Services, name: str) -> None:
        self._svc = services
        self._name = name
        # The embedded SQLite database has a single connection, so threads add no concurrency,
        # only a hand-off per request: there, everything runs on the event loop.
        self._all_inline = services.engine.dialect.name == "sqlite"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc = self._svc
        request = Request(scope, receive)
        try:
            form = await read_form(request)
            oreq = HttpRequest(
                "POST", svc.settings.issuer + scope["path"], Headers(scope=scope), [], form,
                client_ip(request, svc.settings.trusted_proxies),
            )
            response = await self._respond(oreq)
        except OAuth2Error as err:
            response = svc.server.handle_error_response(None, err)
        except StoreUnavailable as exc:
            log.error("ephemeral store unavailable: %s", exc)
            response = _json(503, {"error": "temporarily_unavailable", "error_description": "Try again shortly."})
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            response = _json(500, {"error": "server_error", "error_description": "Something went wrong on our side."})
        await response(scope, receive, send)

    async def _respond(self, oreq: HttpRequest) -> Response:
        server = self._svc.server
        if self._name == "token":
            # A client assertion's id is claimed in the database: that request takes a thread.
            if self._all_inline or (oreq.form.get("grant_type") in _INLINE_GRANTS
                                    and "client_assertion" not in oreq.form):
                return server.create_token_response(oreq)  # type: ignore[no-any-return]
            return await anyio.to_thread.run_sync(server.create_token_response, oreq)  # type: ignore[no-any-return]
        if self._all_inline:
            return server.create_endpoint_response(self._name, oreq)  # type: ignore[no-any-return]
        return await anyio.to_thread.run_sync(server.create_endpoint_response, self._name, oreq)  # type: ignore[no-any-return]


def _json(status: int, body: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def endpoints(services: Services) -> dict[str, OAuthEndpoint]:
    return {
        "/token": OAuthEndpoint(services, "token"),
        "/introspect": OAuthEndpoint(services, "introspection"),
        "/revoke": OAuthEndpoint(services, "revocation"),
    }
