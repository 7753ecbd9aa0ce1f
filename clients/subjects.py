"""The `sub` a client sees for a person (OIDC Core §8).

A `public` client sees the person's id, the same for every client. A `pairwise` client sees a value
derived from its sector and the person's id with a secret salt: two agencies in different sectors
get different values for the same person and cannot join their records on them, while every client
of one sector (and every token, userinfo answer, logout token and hint of one client) gets the same
value. https://openid.net/specs/openid-connect-core-1_0.html#PairwiseAlg
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from clients.models import Client, sector_hosts


def sector(client: Client) -> str:
    """The client's sector: the host of its sector identifier URI, else the one host of its
    redirect URIs (registration guarantees one of the two for pairwise clients)."""
    if client.sector_identifier_uri is not None:
        return urlsplit(client.sector_identifier_uri).hostname or ""
    hosts = sector_hosts(client)
    return min(hosts) if hosts else client.client_id


class Subjects:
    """Maps person ids to the `sub` each client sees, and back."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def pairwise(self, sector_host: str, person_id: str) -> str:
        # HMAC rather than a plain hash of salt + values: no ambiguity where one value ends.
        digest = hmac.new(self._salt, f"{sector_host}\x00{person_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def for_client(self, client: Client, person_id: str) -> str:
        """The `sub` `client` sees for the person `person_id`."""
        if client.subject_type != "pairwise":
            return person_id
        return self.pairwise(sector(client), person_id)
