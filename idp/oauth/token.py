"""Token (RFC 6749 §3.2), introspection (RFC 7662 §2) and revocation (RFC 7009 §2) endpoints.

https://www.rfc-editor.org/rfc/rfc6749#section-3.2 — the grants live in `idp/oauth/grants/`; this
module only adapts HTTP, and every error is answered by `idp.web.error_map`. These are plain ASGI
handlers mounted by `idp.web.fast_paths`: at thousands of requests a second the framework's routing
was a large share of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clients.registry import ClientRegistry
from idp.oauth.request import HttpRequest, read_form
from idp.oauth.server import IdpAuthorizationServer, claimed_client_id
from idp.services import Services
from idp.storage.store import MemoryStore
from idp.web.client_address import Network
from idp.web.deps import client_ip
from idp.web.error_map import api_response
from keys.keyring import KeyRing


@dataclass(frozen=True, slots=True)
class EndpointDeps:
    """What the back-channel endpoints use, passed in when the app is built."""

    server: IdpAuthorizationServer
    issuer: str
    trusted_proxies: Sequence[Network]
    clients: ClientRegistry
    keyring: KeyRing
    store_in_process: bool  # the in-process store answers from memory, without I/O (embedded deployment)


class OAuthEndpoint:
    """One back-channel endpoint: `token`, or an Authlib endpoint name (introspection, revocation)."""

    def __init__(self, deps: EndpointDeps, name: str) -> None:
        self._deps = deps
        self._name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deps = self._deps
        request = Request(scope, receive)
        try:
            form = await read_form(request)
            oreq = HttpRequest(
                "POST", deps.issuer + scope["path"], Headers(scope=scope), [], form,
                client_ip(request, deps.trusted_proxies),
            )
            response = await self._respond(oreq)
        except Exception as exc:
            # Errors raised inside a grant were answered by Authlib through the same table.
            response = api_response(exc, where=scope["path"])
        await response(scope, receive, send)

    def _needs_no_io(self, oreq: HttpRequest) -> bool:
        """client_credentials with a client secret, on the in-process store, for a client this process
        has cached: nothing in it waits on a backend, and at its rates a thread hop would cost more
        than the work itself. Anything else (Redis, the database, an assertion claimed in the
        database) may wait, and goes to the thread pool."""
        return (self._deps.store_in_process and oreq.form.get("grant_type") == "client_credentials"
                and "client_assertion" not in oreq.form
                and self._deps.clients.cached(claimed_client_id(oreq))
                and not self._deps.keyring.reload_due())  # signing would reread the keys first

    async def _respond(self, oreq: HttpRequest) -> Response:
        # Every grant may reach Redis or the database (client authentication alone counts failures
        # in the store): it runs in the thread pool, so a hung backend never stalls the loop.
        server = self._deps.server
        if self._name == "token":
            if self._needs_no_io(oreq):
                return server.create_token_response(oreq)  # type: ignore[no-any-return]
            return await anyio.to_thread.run_sync(server.create_token_response, oreq)  # type: ignore[no-any-return]
        return await anyio.to_thread.run_sync(server.create_endpoint_response, self._name, oreq)  # type: ignore[no-any-return]


def endpoints(services: Services) -> dict[str, OAuthEndpoint]:
    deps = EndpointDeps(
        server=services.server, issuer=services.settings.issuer, trusted_proxies=services.settings.trusted_proxies,
        clients=services.clients, keyring=services.keyring, store_in_process=isinstance(services.store, MemoryStore),
    )
    return {
        "/token": OAuthEndpoint(deps, "token"),
        "/introspect": OAuthEndpoint(deps, "introspection"),
        "/revoke": OAuthEndpoint(deps, "revocation"),
    }
