"""A typed view of one kind of record in the ephemeral store: its key prefix and its encoding.

Subclasses name their prefix (one of `idp.storage.keys`) and how a value becomes bytes and back;
callers pass ids and values, never key strings. Ids from requests are checked here: an id that is
empty, too long, or holds a ":" can never name a record (ids are random tokens or hex digests), so
it cannot reach another kind's keys either.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeGuard, TypeVar

import orjson

from idp.storage.store import Store

T = TypeVar("T")

MAX_ID = 128


def valid_id(record_id: str | None) -> TypeGuard[str]:
    return record_id is not None and 0 < len(record_id) <= MAX_ID and ":" not in record_id


class Records(Generic[T]):
    """Records of one kind, each under `prefix + id`, living `ttl` seconds unless told otherwise."""

    prefix: ClassVar[str]

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self.ttl = ttl

    def key(self, record_id: str) -> str:
        if not valid_id(record_id):
            raise ValueError(f"not a record id: {record_id[:20]!r}")
        return self.prefix + record_id

    # How a value is stored; bytes as they are by default.
    def encode(self, value: T) -> bytes:
        return value  # type: ignore[return-value]

    def decode(self, raw: bytes) -> T:
        return raw  # type: ignore[return-value]

    def put(self, record_id: str, value: T, ttl: float | None = None) -> None:
        self._store.set(self.key(record_id), self.encode(value), self.ttl if ttl is None else ttl)

    def add(self, record_id: str, value: T, ttl: float | None = None) -> bool:
        """Store the record only if there is none; True if stored."""
        return self._store.add(self.key(record_id), self.encode(value), self.ttl if ttl is None else ttl)

    def get(self, record_id: str | None) -> T | None:
        if not valid_id(record_id):
            return None
        raw = self._store.get(self.prefix + record_id)
        return None if raw is None else self.decode(raw)

    def take(self, record_id: str | None) -> T | None:
        """Read and delete atomically: of concurrent callers only one gets the record."""
        if not valid_id(record_id):
            return None
        raw = self._store.take(self.prefix + record_id)
        return None if raw is None else self.decode(raw)

    def delete(self, record_id: str) -> None:
        if valid_id(record_id):
            self._store.delete(self.prefix + record_id)

    def expires_in(self, record_id: str) -> float | None:
        """Seconds the record has left, or None if there is none."""
        return self._store.ttl(self.prefix + record_id) if valid_id(record_id) else None


class Marks(Records[str]):
    """Records whose value is a short text (an id, a choice)."""

    def encode(self, value: str) -> bytes:
        return value.encode()

    def decode(self, raw: bytes) -> str:
        return raw.decode()


class JsonRecords(Records[T]):
    """Records stored as JSON (orjson)."""

    def encode(self, value: T) -> bytes:
        return orjson.dumps(value)

    def decode(self, raw: bytes) -> T:
        return orjson.loads(raw)  # type: ignore[no-any-return]
