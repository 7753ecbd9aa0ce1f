"""The one table from exceptions to what goes on the wire.

Domain packages raise their own exceptions (bases `levels.errors.LevelsError`,
`legal_entities.errors.EntitiesError`, `clients.errors.ClientsError`, `keys.errors.KeysError`) and
never know about HTTP; the web layer's own are Authlib's `OAuth2Error` family (`idp.errors`) and
`Unavailable` (a backend is down). Where the answer to an exception is the same wherever it is
raised, it is written once, here: the OAuth error code and `error_description` for the JSON
endpoints, the HTTP status, the message id shown on pages (translated by the page), and how long to
wait (`Retry-After`). Pages whose answer depends on where they are (a form's own field errors, the
sign-in page's "try again in N seconds") keep that in the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from idp.errors import ClientAuthenticationThrottled, OAuth2Error, whole_seconds
from idp.storage.breaker import Unavailable
from levels.sms import SmsDeliveryFailed
from levels.throttle import TooManyAttempts

log = logging.getLogger("idp")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True, slots=True)
class WireError:
    """How one kind of exception is answered."""

    error: str  # the OAuth error code (RFC 6749 §5.2 and friends) on the JSON endpoints
    status: int
    message: str  # message id shown on pages, translated there
    description: str  # `error_description` on the JSON endpoints
    title: str = ""  # page title, where the answer is a page of its own
    retry_after: Callable[[Any], float] | None = None  # seconds to wait, from the exception


UNAVAILABLE = WireError(
    "temporarily_unavailable", 503,
    message="We could not complete your request just now. Please try again in a minute.",
    description="The service is temporarily unavailable; try again shortly.",
    title="The service is temporarily unavailable",
    retry_after=lambda exc: exc.retry_after,
)
SMS_RETRY_AFTER = 30  # seconds: the SMS gateway refused or failed; a short wait before trying again

ERRORS: dict[type[BaseException], WireError] = {
    # Too many failures on a counter (`levels.throttle`). The only counter a JSON endpoint checks
    # is client authentication at /token, /introspect and /revoke, raised there as
    # `ClientAuthenticationThrottled` for Authlib to answer: `invalid_client` with 429 (RFC 6585 §4),
    # so OAuth clients treat it as the failure it is.
    TooManyAttempts: WireError(
        "invalid_client", 429, message="Too many attempts. Try again later.",
        description=ClientAuthenticationThrottled.DESCRIPTION,
        retry_after=lambda exc: exc.resets_in,
    ),
    # The SMS gateway refused or could not be reached.
    SmsDeliveryFailed: WireError(
        "temporarily_unavailable", 503, message="The text message could not be sent. Please try again.",
        description="The text message could not be sent; try again shortly.",
        retry_after=lambda exc: SMS_RETRY_AFTER,
    ),
    # A backend (the ephemeral store, the database) is down: 503 with Retry-After, never a 500.
    Unavailable: UNAVAILABLE,
}

SERVER_ERROR = WireError("server_error", 500, message="Something went wrong on our side.",
                         description="Something went wrong on our side.")


def wire_error(exc: BaseException) -> WireError | None:
    """The row for `exc`'s class or its nearest base in the table; None when it has none."""
    for cls in type(exc).__mro__:
        row = ERRORS.get(cls)
        if row is not None:
            return row
    return None


@dataclass(frozen=True, slots=True)
class Refusal:
    """One exception's answer on a page: the message id and status to render it with, and the wait."""

    message: str
    status: int
    wait: float | None

    def apply(self, response: Response) -> Response:
        """`response` with `Retry-After` (RFC 9110 §10.2.3, whole seconds, at least one) when there is a wait."""
        if self.wait is not None:
            response.headers["Retry-After"] = str(whole_seconds(self.wait))
        return response


def refusal(exc: BaseException) -> Refusal:
    """How a page answers `exc` (one in the table): render `message` with `status`, then `apply`."""
    row = wire_error(exc)
    if row is None:
        raise LookupError(f"no wire error for {type(exc).__name__}") from exc
    return Refusal(row.message, row.status, row.retry_after(exc) if row.retry_after else None)


def oauth_response(status: int, body: object, headers: list[tuple[str, str]]) -> Response:
    """What Authlib answers (a result or an `OAuth2Error`), as a response: JSON bodies never cached."""
    out = dict(headers)
    if isinstance(body, dict):
        out.update(NO_STORE)
        out["Content-Type"] = "application/json"
        return Response(orjson.dumps(body), status_code=status, headers=out)
    return Response(body or b"", status_code=status, headers=out)


def api_response(exc: BaseException, *, where: str = "") -> Response:
    """The JSON answer of the token, introspection, revocation and userinfo endpoints to `exc`.

    OAuth errors carry their own code, status and headers (RFC 6749 §5.2, Authlib's
    `OAuth2Error`); others are answered from the table; anything else is a 500 `server_error`,
    logged here, with nothing about the cause on the wire.
    """
    if isinstance(exc, OAuth2Error):
        return oauth_response(*exc())
    row = wire_error(exc)
    if row is None:
        log.error("unhandled error on %s", where, exc_info=exc)
        row = SERVER_ERROR
    headers = {"Cache-Control": "no-store"}
    if row.retry_after is not None:
        headers["Retry-After"] = str(whole_seconds(row.retry_after(exc)))
    return Response(orjson.dumps({"error": row.error, "error_description": row.description}),
                    status_code=row.status, media_type="application/json", headers=headers)
