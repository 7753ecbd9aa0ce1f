"""The one error hierarchy of the web layer.

Protocol errors are Authlib's `OAuth2Error` classes (named after their wire code); the few codes
Authlib lacks are added here in the same shape. `BrowserError` is for problems that must be shown to
a person on a page and never sent to a redirect URI (unknown client, unregistered redirect URI,
expired sign-in link).
"""

from __future__ import annotations

import math

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
    UnsupportedResponseTypeError,
)
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    LoginRequiredError,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)

__all__ = [
    "AccessDeniedError",
    "AccountSelectionRequiredError",
    "BrowserError",
    "ClientAuthenticationThrottled",
    "ConsentRequiredError",
    "InvalidClientError",
    "InvalidDpopProof",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidTargetError",
    "InvalidTokenError",
    "LoginRequiredError",
    "OAuth2Error",
    "RegistrationNotSupportedError",
    "RequestNotSupportedError",
    "RequestURINotSupportedError",
    "UnauthorizedClientError",
    "UnmetAuthenticationRequirements",
    "UnsupportedGrantTypeError",
    "UnsupportedResponseTypeError",
    "UseDpopNonce",
]


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested `resource` is not one this client may target."""

    error = "invalid_target"


class UnmetAuthenticationRequirements(OAuth2Error):
    """OpenID Connect Core Unmet Authentication Requirements 1.0: the level asked for was not met."""

    error = "unmet_authentication_requirements"


class InvalidTokenError(OAuth2Error):
    """RFC 6750 §3.1: the access token is malformed, expired, revoked or for another audience."""

    error = "invalid_token"
    status_code = 401


class InvalidDpopProof(OAuth2Error):
    """RFC 9449 §5, §7.1: the DPoP proof is missing where required, repeated, malformed, or fails a
    check of §4.3. 400 at the token endpoint; resource endpoints answer 401 with a `DPoP` challenge."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuth2Error):
    """RFC 9449 §8: the proof must carry a nonce this server gave; the fresh one is in `DPoP-Nonce`."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str) -> None:
        super().__init__(description="Make the DPoP proof again with the nonce in the DPoP-Nonce header.")
        self.nonce = nonce

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("DPoP-Nonce", self.nonce)]


def whole_seconds(seconds: float) -> int:
    """A wait as people and `Retry-After` (RFC 9110 §10.2.3) count it: whole seconds, rounded up,
    at least one."""
    return max(1, math.ceil(seconds))


class ClientAuthenticationThrottled(InvalidClientError):
    """Too many failed client authentications from this client at this address: 429 (RFC 6585 §4)
    with `Retry-After`, and `invalid_client` so OAuth clients treat it as the failure it is."""

    status_code = 429
    DESCRIPTION = "Too many failed client authentications; try again later."

    def __init__(self, retry_after: float) -> None:
        super().__init__(description=self.DESCRIPTION)
        self.retry_after = whole_seconds(retry_after)

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]



class BrowserError(Exception):
    """A problem shown to the person on an error page; never redirected to a client."""

    def __init__(self, title: str, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status_code = status_code
