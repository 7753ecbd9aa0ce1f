"""`client_secret_basic`, read strictly: https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1

The client id and secret are form-urlencoded, joined by a colon and base64-encoded (RFC 7617).
Authlib's reader fails on some malformed headers with an exception (a 500) and lets others fall
through to "cannot authenticate"; here any malformed `Authorization: Basic` header is
`invalid_client` with status 401 and a `WWW-Authenticate: Basic` challenge (RFC 6749 §5.2) saying
what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from urllib.parse import unquote_plus

from clients.models import Client
from idp.errors import InvalidClientError

# A percent sign not followed by two hex digits is not form-urlencoding.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unauthorized(description: str) -> InvalidClientError:
    return InvalidClientError(status_code=401, description=description)


_PARSED = "_basic_credentials"  # where a request keeps its parsed header (or the error it gave)


def basic_credentials(request) -> tuple[str, str] | None:  # type: ignore[no-untyped-def]
    """(client_id, client_secret) from the request's `Authorization: Basic` header; None without one.

    Raises `InvalidClientError` (401) when the header is Basic but malformed. Parsed once per
    request: the throttle, the malformed-header check and the authentication method all ask.
    """
    parsed = request.__dict__.get(_PARSED)
    if parsed is None:
        try:
            parsed = _parse(request.headers)
        except InvalidClientError as exc:
            parsed = exc
        request.__dict__[_PARSED] = parsed
    if isinstance(parsed, InvalidClientError):
        raise parsed
    return parsed or None


def _parse(headers: Mapping[str, str]) -> tuple[str, str] | tuple[()]:
    header = headers.get("Authorization") or ""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return ()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        raise _unauthorized("The Basic credentials must be base64 of UTF-8 text.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id or not secret:
        raise _unauthorized("The Basic credentials must be client_id:client_secret.")
    if _BAD_ESCAPE.search(decoded):
        raise _unauthorized("The Basic client_id and client_secret must be form-urlencoded (RFC 6749 section 2.3.1).")
    try:
        client_id, secret = unquote_plus(client_id, errors="strict"), unquote_plus(secret, errors="strict")
    except UnicodeDecodeError:
        raise _unauthorized("The Basic client_id and client_secret must be UTF-8 once percent-decoded.") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in client_id + secret):
        raise _unauthorized("The Basic credentials must not contain control characters.")
    return client_id, secret


def authenticate_client_secret_basic(query_client: Callable[[str], Client | None], request) -> Client | None:  # type: ignore[no-untyped-def]
    """Authlib client authentication method `client_secret_basic`, with `basic_credentials`."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    client_id, secret = credentials
    client = query_client(client_id)
    if client is None:
        raise _unauthorized("The client does not exist on this server.")
    return client if client.check_client_secret(secret) else None
