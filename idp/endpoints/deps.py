"""Request-scoped helpers shared by the endpoint modules.

Handlers that reach Redis or the database are plain `def` functions: FastAPI runs them in the
thread pool, so a slow or hung backend never stalls the event loop. A POSTed form is read on the
event loop first, by the `PostedForm` dependency, and handed to the handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from idp.errors import OAuth2Error
from idp.oauth_request import read_form
from idp.services import Services


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def client_ip(request: Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True, slots=True)
class Posted:
    """A form POST body, read on the event loop; `pairs()` raises what reading it raised."""

    _pairs: list[tuple[str, str]]
    _error: OAuth2Error | None = None

    def pairs(self) -> list[tuple[str, str]]:
        if self._error is not None:
            raise self._error
        return self._pairs


async def _read_posted(request: Request) -> Posted:
    try:
        return Posted(await read_form(request))
    except OAuth2Error as err:
        return Posted([], err)


PostedForm = Annotated[Posted, Depends(_read_posted)]
