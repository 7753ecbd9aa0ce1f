"""Pushed authorization requests (RFC 9126) in the ephemeral store: https://www.rfc-editor.org/rfc/rfc9126

A request validated at `/par` (`idp.oauth.par`) is kept for `IDP_PAR_TTL` seconds and named by a
`request_uri`: `urn:ietf:params:oauth:request_uri:` and 256 random bits. The browser then brings
only that `request_uri` and the `client_id` to `/authorize`, which takes the request out of the
store once: a second use, or one after it expired, is refused (`invalid_request_uri`).
"""

from __future__ import annotations

import secrets
from typing import Any

from authlib.oauth2.rfc9101.errors import InvalidRequestUriError

from idp.storage.keys import PUSHED_REQUEST
from idp.storage.records import JsonRecords, valid_id
from idp.storage.store import Store

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"

__all__ = ["REQUEST_URI_PREFIX", "InvalidRequestUriError", "PushedRequests"]


class _Stored(JsonRecords[Any]):
    prefix = PUSHED_REQUEST


class PushedRequests:
    """Pushed requests in the ephemeral store, under "par:" + the random part of the request_uri."""

    def __init__(self, store: Store, ttl: int) -> None:
        self._records = _Stored(store, ttl)
        self.ttl = ttl

    def push(self, client_id: str, params: list[tuple[str, str]]) -> str:
        """Keep a validated request; its request_uri."""
        record_id = secrets.token_urlsafe(32)
        self._records.put(record_id, {"client_id": client_id, "params": params})
        return REQUEST_URI_PREFIX + record_id

    def take(self, request_uri: str, client_id: str | None) -> list[tuple[str, str]]:
        """The pushed parameters, taken once (RFC 9126 §4: a request_uri is used once). A request_uri
        pushed by another client is refused without using it up, so nobody can spend another
        client's request by naming it."""
        record_id = request_uri.removeprefix(REQUEST_URI_PREFIX) if request_uri.startswith(REQUEST_URI_PREFIX) else None
        if not valid_id(record_id):
            raise InvalidRequestUriError(
                "Only request_uri values returned by the pushed authorization request endpoint are accepted.")
        stored = self._records.get(record_id)
        if stored is not None and stored["client_id"] != client_id:
            raise InvalidRequestUriError("This request_uri was not issued to the client named by client_id.")
        if stored is None or self._records.take(record_id) is None:
            raise InvalidRequestUriError(
                "This request_uri has expired or was already used; the service must push its request again.")
        return [(str(key), str(value)) for key, value in stored["params"]]
