"""Request-scoped helpers shared by the endpoint modules.

Handlers that reach Redis or the database are plain `def` functions: FastAPI runs them in the
thread pool, so a slow or hung backend never stalls the event loop. A POSTed form is read on the
event loop first, by the `PostedForm` dependency, and handed to the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from idp.errors import OAuth2Error, whole_seconds
from idp.oauth.access_tokens import AccessTokenReader
from idp.oauth.request import read_form, read_pairs
from idp.oauth.server import IdpAuthorizationServer
from idp.services import Services
from idp.settings import Settings
from idp.web.client_address import Network, client_address
from levels.people import PersonStore
from levels.proofing import ProofingRecordStore


def services(request: Request) -> Services:
    """The whole set of collaborators; prefer the narrow accessors below where they suffice."""
    return request.app.state.services  # type: ignore[no-any-return]


# Narrow, typed accessors, one per concept, so an endpoint declares what it uses rather than
# reaching into the whole `Services`.

def settings(request: Request) -> Settings:
    return services(request).settings


def access_tokens(request: Request) -> AccessTokenReader:
    return services(request).access_tokens


def people(request: Request) -> PersonStore:
    return services(request).people


def proofing_records(request: Request) -> ProofingRecordStore:
    return services(request).proofing_records


def oauth_server(request: Request) -> IdpAuthorizationServer:
    return services(request).server


def client_ip(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The one answer to "who is asking", for rate limits, sessions and the audit log alike
    (`settings.trusted_proxies`; see `idp.web.client_address`)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted_proxies)


def retry_after(response: Response, seconds: float) -> Response:
    """Say how long to wait (RFC 9110 §10.2.3, whole seconds, at least one): every 429 carries it."""
    response.headers["Retry-After"] = str(whole_seconds(seconds))
    return response


@dataclass(frozen=True, slots=True)
class Posted:
    """A form POST body, read on the event loop; `pairs()` raises what reading it raised."""

    _pairs: list[tuple[str, str]]
    _error: OAuth2Error | None = None

    def pairs(self) -> list[tuple[str, str]]:
        if self._error is not None:
            raise self._error
        return self._pairs


def _posted(read: Callable[[Request], Awaitable[list[tuple[str, str]]]]) -> Callable[[Request], Awaitable[Posted]]:
    async def read_posted(request: Request) -> Posted:
        try:
            return Posted(await read(request))
        except OAuth2Error as err:
            return Posted([], err)

    return read_posted


# A form, every field within its limit (`idp.web.input_limits`).
PostedForm = Annotated[Posted, Depends(_posted(read_form))]
# The authorization request as sent: /authorize checks its own limits, to answer at the client where
# the rules allow it.
PostedParameters = Annotated[Posted, Depends(_posted(read_pairs))]
