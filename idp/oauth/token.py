"""Token (RFC 6749 §3.2), introspection (RFC 7662 §2) and revocation (RFC 7009 §2) endpoints.

https://www.rfc-editor.org/rfc/rfc6749#section-3.2 — the grants live in `idp/grants/`; this
module only adapts HTTP. These are plain ASGI handlers mounted by `idp.web.fast_paths`: at thousands
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

from idp.errors import OAuth2Error
from idp.oauth.request import HttpRequest, read_form
from idp.oauth.server import claimed_client_id
from idp.services import Services
from idp.storage.breaker import Unavailable
from idp.storage.store import MemoryStore
from idp.web import outages
from idp.web.deps import client_ip

log = logging.getLogger("idp")


class OAuthEndpoint:
    """One back-channel endpoint: `token`, or an Authlib endpoint name (introspection, revocation)."""

    def __init__(self, services: Services, name: str) -> None:
        self._svc = services
        self._name = name
        # The in-process store answers from memory, without I/O (the embedded deployment).
        self._store_in_process = isinstance(services.store, MemoryStore)

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
        except Unavailable as exc:
            response = outages.api_response(exc)
        except Exception:
            log.exception("unhandled error on %s", scope["path"])
            response = _json(500, {"error": "server_error", "error_description": "Something went wrong on our side."})
        await response(scope, receive, send)

    def _needs_no_io(self, oreq: HttpRequest) -> bool:
        """client_credentials with a client secret, on the in-process store, for a client this process
        has cached: nothing in it waits on a backend, and at its rates a thread hop would cost more
        than the work itself. Anything else (Redis, the database, an assertion claimed in the
        database) may wait, and goes to the thread pool."""
        return (self._store_in_process and oreq.form.get("grant_type") == "client_credentials"
                and "client_assertion" not in oreq.form
                and self._svc.clients.cached(claimed_client_id(oreq))
                and not self._svc.keyring.reload_due())  # signing would reread the keys first

    async def _respond(self, oreq: HttpRequest) -> Response:
        # Every grant may reach Redis or the database (client authentication alone counts failures
        # in the store): it runs in the thread pool, so a hung backend never stalls the loop.
        server = self._svc.server
        if self._name == "token":
            if self._needs_no_io(oreq):
                return server.create_token_response(oreq)  # type: ignore[no-any-return]
            return await anyio.to_thread.run_sync(server.create_token_response, oreq)  # type: ignore[no-any-return]
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
