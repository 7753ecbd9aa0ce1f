"""A pending authorization request while the person signs in (kept in the ephemeral store)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import orjson

from idp.storage.store import Store


@dataclass(frozen=True, slots=True)
class LoginTransaction:
    id: str
    params: list[tuple[str, str]]  # the authorization request exactly as received
    created_at: float
    client_id: str

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


class LoginTransactions:
    def __init__(self, store: Store, ttl: int) -> None:
        self._store = store
        self._ttl = ttl

    def start(self, params: list[tuple[str, str]], client_id: str) -> LoginTransaction:
        tx = LoginTransaction(secrets.token_urlsafe(16), params, time.time(), client_id)
        self._store.set(f"tx:{tx.id}", orjson.dumps([tx.params, tx.created_at, tx.client_id]), self._ttl)
        return tx

    def load(self, tx_id: str | None) -> LoginTransaction | None:
        if not tx_id or len(tx_id) > 64:
            return None
        raw = self._store.get(f"tx:{tx_id}")
        if raw is None:
            return None
        params, created_at, client_id = orjson.loads(raw)
        return LoginTransaction(tx_id, [tuple(p) for p in params], created_at, client_id)  # type: ignore[misc]

    def finish(self, tx_id: str) -> None:
        self._store.delete(f"tx:{tx_id}")
