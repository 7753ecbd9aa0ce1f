"""Token (RFC 6749 §3.2), introspection (RFC 7662 §2), revocation (RFC 7009 §2) and pushed
authorization request (RFC 9126 §2, `idp.oauth.par`) endpoints.

https://www.rfc-editor.org/rfc/rfc6749#section-3.2 — the grants live in `idp/oauth/grants/`; this
module only adapts HTTP, and every error is answered by `idp.web.error_map`. These are plain ASGI
handlers mounted by `idp.web.fast_paths`: at thousands of requests a second the framework's routing
was a large share of the cost.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from clients.models import is_client_id
from clients.registry import ClientRegistry
from idp import logs, metrics
from idp.errors import ClientAuthenticationThrottled, InvalidClientError
from idp.oauth.dpop import HEADER as DPOP_HEADER
from idp.oauth.dpop import DpopVerifier
from idp.oauth.grants.basic_auth import basic_credentials
from idp.oauth.par import PushedAuthorization
from idp.oauth.request import HttpRequest, read_form
from idp.oauth.server import IdpAuthorizationServer, claimed_client_id
from idp.services import Services
from idp.storage.store import StoreUnavailable
from idp.web.client_address import Network
from idp.web.deps import client_ip
from idp.web.error_map import api_response
from keys.keyring import KeyRing
from levels.throttle import LoginThrottle, TooManyAttempts


@dataclass(frozen=True, slots=True)
class EndpointDeps:
    """What the back-channel endpoints use, passed in when the app is built."""

    server: IdpAuthorizationServer
    issuer: str
    trusted_proxies: Sequence[Network]
    clients: ClientRegistry
    keyring: KeyRing
    client_throttle: LoginThrottle  # failed client authentications (idp.oauth.server counts them)
    # The threads grants run in. A plain executor rather than anyio's thread pool: at these rates
    # anyio's per-call bookkeeping (limiter, cancel scope) cost twice the hop itself.
    threads: ThreadPoolExecutor
    dpop: DpopVerifier
    pushed: PushedAuthorization  # the pushed authorization request endpoint's work (RFC 9126)


class OAuthEndpoint:
    """One back-channel endpoint: `token`, `par`, or an Authlib endpoint name (introspection, revocation)."""

    def __init__(self, deps: EndpointDeps, name: str) -> None:
        self._deps = deps
        self._name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        deps = self._deps
        request = Request(scope, receive)
        grant_type: str | None = None
        try:
            form = await read_form(request)
            oreq = HttpRequest(
                "POST", deps.issuer + scope["path"], Headers(scope=scope), [], form,
                client_ip(request, deps.trusted_proxies),
            )
            grant_type = oreq.form.get("grant_type")
            claimed = claimed_client_id(oreq)
            if is_client_id(claimed):  # the shape of one: a caller cannot put any text on our log lines
                logs.set_client_id(claimed)
            await self._not_throttled(oreq)
            response = await self._respond(oreq)
        except Exception as exc:
            # Errors raised inside a grant were answered by Authlib through the same table.
            response = api_response(exc, where=scope["path"])
        if self._name == "token":
            metrics.token_answered(grant_type, response.status_code, response.body)
        await response(scope, receive, send)

    async def _not_throttled(self, oreq: HttpRequest) -> None:
        """Refuse a client that failed to authenticate too often from this address, before any
        work, and from the event loop: the store is asked without a thread hop. The failures
        themselves are counted where authentication fails (`IdpAuthorizationServer`)."""
        try:
            await self._deps.client_throttle.check_async(claimed_client_id(oreq), oreq.client_ip)
        except TooManyAttempts as exc:
            raise ClientAuthenticationThrottled(exc.resets_in) from None
        except StoreUnavailable:
            pass  # fails open while the store is down (README "When a backend is down")

    def _needs_no_io(self, oreq: HttpRequest) -> bool:
        """client_credentials with a correct client secret, for a client this process has cached:
        nothing in it waits on a backend (no failure to count, no client to read), and at its rates
        a thread hop would cost more than the work itself. Anything else (the database, an
        assertion claimed in the database, a wrong secret counted in the store) may wait, and goes
        to the thread pool."""
        deps = self._deps
        if oreq.form.get("grant_type") != "client_credentials" or "client_assertion" in oreq.form:
            return False
        if DPOP_HEADER in oreq.headers:
            return False  # a DPoP proof's jti is claimed in the store (idp.oauth.dpop)
        try:
            credentials = basic_credentials(oreq)
        except InvalidClientError:
            return False
        if credentials is None or not deps.clients.cached(credentials[0]) or deps.keyring.reload_due():
            return False  # signing after a due reload would reread the keys first
        client = deps.clients.get(credentials[0])
        return client is not None and client.check_client_secret(credentials[1])

    async def _respond(self, oreq: HttpRequest) -> Response:
        # Every grant may reach Redis or the database (client authentication alone counts failures
        # in the store): it runs in the thread pool, so a hung backend never stalls the loop.
        server = self._deps.server
        if self._name == "token":
            if self._needs_no_io(oreq):
                return server.create_token_response(oreq)  # type: ignore[no-any-return]
            return await self._in_thread(self._token_response, oreq)
        if self._name == "par":
            return await self._in_thread(self._deps.pushed.respond, oreq)
        return await self._in_thread(server.create_endpoint_response, self._name, oreq)

    def _token_response(self, oreq: HttpRequest) -> Response:
        """The grant's answer, after the request's DPoP proof (if any) is checked for this endpoint
        (RFC 9449 §4.3, §5); the grants bind their tokens to it (`idp.oauth.dpop.token_binding`)."""
        dpop = self._deps.dpop
        proofs = oreq.headers.getlist(DPOP_HEADER)  # type: ignore[attr-defined]
        if proofs:
            oreq.dpop = dpop.check(proofs, method="POST", uri=oreq.uri)
        response: Response = self._deps.server.create_token_response(oreq)
        if oreq.dpop is not None:
            response.headers.update(dpop.fresh_nonce_header())  # §8.2: the next nonce, saving a round trip
        return response

    async def _in_thread(self, function: Callable[..., Response], *args: object) -> Response:
        context = contextvars.copy_context()  # the request's context variables follow it
        return await asyncio.get_running_loop().run_in_executor(self._deps.threads, context.run, function, *args)


def _thread_count(services: Services) -> int:
    """`IDP_THREADPOOL_SIZE`, but never more threads than database connections: on SQLite (one
    connection) more threads only queue for it, and each handover of the GIL costs CPU."""
    settings = services.settings
    if services.engine.dialect.name == "sqlite":
        return 1
    return max(1, min(settings.threadpool_size, settings.database_pool_size + settings.database_max_overflow))


def endpoints(services: Services) -> dict[str, OAuthEndpoint]:
    deps = EndpointDeps(
        server=services.server, issuer=services.settings.issuer, trusted_proxies=services.settings.trusted_proxies,
        clients=services.clients, keyring=services.keyring, client_throttle=services.server.client_throttle,
        threads=ThreadPoolExecutor(_thread_count(services), thread_name_prefix="idp-oauth"), dpop=services.dpop,
        pushed=PushedAuthorization(services),
    )
    return {
        "/token": OAuthEndpoint(deps, "token"),
        "/introspect": OAuthEndpoint(deps, "introspection"),
        "/revoke": OAuthEndpoint(deps, "revocation"),
        "/par": OAuthEndpoint(deps, "par"),
    }
