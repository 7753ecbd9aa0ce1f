"""A pending authorization request while the person signs in, and what is remembered for its length
(all in the ephemeral store)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from idp.storage.keys import ACTING_CHOICE, CONSENT_MARK, LOGIN_TRANSACTION
from idp.storage.records import JsonRecords, Marks
from idp.storage.store import Store


@dataclass(frozen=True, slots=True)
class LoginTransaction:
    id: str
    params: list[tuple[str, str]]  # the authorization request exactly as received
    created_at: float
    client_id: str

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


class _Stored(JsonRecords[list[Any]]):
    prefix = LOGIN_TRANSACTION


class LoginTransactions:
    """Login transactions in the ephemeral store, under "tx:" + id."""

    def __init__(self, store: Store, ttl: int) -> None:
        self._records = _Stored(store, ttl)

    def start(self, params: list[tuple[str, str]], client_id: str) -> LoginTransaction:
        tx = LoginTransaction(secrets.token_urlsafe(16), params, time.time(), client_id)
        self._records.put(tx.id, [tx.params, tx.created_at, tx.client_id])
        return tx

    def load(self, tx_id: str | None) -> LoginTransaction | None:
        stored = self._records.get(tx_id)  # None for an id that is not one of ours
        if stored is None:
            return None
        params, created_at, client_id = stored
        return LoginTransaction(tx_id, [tuple(p) for p in params], created_at, client_id)  # type: ignore[misc]

    def finish(self, tx_id: str) -> None:
        self._records.delete(tx_id)


# Small records kept for the length of one login transaction, by its id.
class ConsentMarks(Marks):
    """The person (by id) who consented in the transaction: `prompt=consent` asks once per authorization."""

    prefix = CONSENT_MARK


class ActingChoices(Marks):
    """Whom the person chose to act as in the transaction ("self" or a mandate id)."""

    prefix = ACTING_CHOICE
