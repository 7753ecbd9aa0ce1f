"""Checking a pairwise client's sector identifier URI (OIDC Core §8.1, OIDC Dynamic Client
Registration 1.0 §5).

The URI names a JSON array of the redirect URIs of every client of one sector; its host is the
sector. At registration the provider fetches it and refuses the client unless each of its redirect
URIs is listed, so nobody can claim a sector (and its pairwise subjects) they do not control.
The fetch is an injected callable (`SectorFetch`); `HttpSectorFetcher` is the real one. It is
synchronous: registrations run in the CLI or in a worker thread, never on an event loop.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from clients.errors import ClientsError

# Fetches the document at a sector identifier URI and returns the URIs it lists; raises
# `SectorIdentifierError` saying why when it cannot.
SectorFetch = Callable[[str], list[str]]

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_URIS = 1000


class SectorIdentifierError(ClientsError):
    """The sector identifier document could not be fetched or is not a JSON array of URIs."""


def missing_redirect_uris(listed: Iterable[str], redirect_uris: Iterable[str]) -> list[str]:
    """The client's redirect URIs the sector document does not list (compared exactly, as at /authorize)."""
    known = set(listed)
    return [uri for uri in redirect_uris if uri not in known]


def parse_document(body: bytes) -> list[str]:
    """The URIs of a sector identifier document: a JSON array of strings."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise SectorIdentifierError("the document is not JSON") from None
    if not isinstance(document, list) or not all(isinstance(uri, str) for uri in document):
        raise SectorIdentifierError("the document is not a JSON array of redirect URIs")
    if len(document) > MAX_URIS:
        raise SectorIdentifierError(f"the document lists more than {MAX_URIS} URIs")
    return document


class HttpSectorFetcher:
    """GETs the document over https (no redirects, a short timeout, at most `max_bytes`).

    `verify`: a CA bundle path (tests) or an `ssl.SSLContext`; by default the system's CAs.
    """

    def __init__(
        self, *, timeout: float = 5.0, max_bytes: int = MAX_DOCUMENT_BYTES, verify: str | ssl.SSLContext | bool = True,
    ) -> None:
        if verify is False:
            raise ValueError("the sector identifier document is only trusted over verified https")
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=verify) if isinstance(verify, str) \
            else verify

    def __call__(self, uri: str) -> list[str]:
        if urlsplit(uri).scheme != "https":
            raise SectorIdentifierError("the URI must use https")
        try:
            with httpx.Client(verify=self._verify, timeout=self._timeout, follow_redirects=False, trust_env=False,
                              headers={"Accept": "application/json",
                                       "User-Agent": "national-idp sector identifier check"}) as http, \
                    http.stream("GET", uri) as response:
                if response.status_code != 200:
                    raise SectorIdentifierError(f"fetching the document answered HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise SectorIdentifierError(f"the document is larger than {self._max_bytes} bytes")
        except httpx.HTTPError as exc:
            # Only the class: exception texts may quote the request.
            raise SectorIdentifierError(f"the document could not be fetched ({type(exc).__name__})") from None
        return parse_document(body)
