"""The storage contract for registered clients, its errors, and an in-memory implementation."""

from __future__ import annotations

import threading
from typing import Protocol

from clients.errors import ClientsError
from clients.models import Client


class UnknownClient(ClientsError, LookupError):
    """No client is registered under this client_id."""


class ClientExists(ClientsError, ValueError):
    """A client is already registered under this client_id."""


class ClientStore(Protocol):
    """Durable client records. Implementations store `Client` values as given and validate nothing."""

    def get(self, client_id: str) -> Client | None:
        """Return the client registered as `client_id`, or None."""
        ...

    def list(self) -> list[Client]:
        """Return every client, ordered by client_id."""
        ...

    def add(self, client: Client) -> None:
        """Store a new client; raise `ClientExists` if its client_id is taken."""
        ...

    def save(self, client: Client) -> None:
        """Replace the stored client with the same client_id; raise `UnknownClient` if there is none."""
        ...

    def delete(self, client_id: str) -> bool:
        """Remove the client; return False if there was none."""
        ...


class MemoryClientStore:
    """A `ClientStore` in a dict, for tests and single-process experiments."""

    def __init__(self) -> None:
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def list(self) -> list[Client]:
        return [self._clients[k] for k in sorted(self._clients)]

    def add(self, client: Client) -> None:
        with self._lock:
            if client.client_id in self._clients:
                raise ClientExists(client.client_id)
            self._clients[client.client_id] = client

    def save(self, client: Client) -> None:
        with self._lock:
            if client.client_id not in self._clients:
                raise UnknownClient(client.client_id)
            self._clients[client.client_id] = client

    def delete(self, client_id: str) -> bool:
        with self._lock:
            return self._clients.pop(client_id, None) is not None
