"""The storage contract for signing keys, and an in-memory implementation for tests."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from keys.errors import KeyStoreConflict, UnknownKey
from keys.models import KeyState, SigningKey
from keys.rotation import Transition

# At most one key per (alg, state) for these states; SqlKeyStore enforces it with a partial
# unique index, so two processes bootstrapping or rotating at once cannot both win.
SINGLETON_STATES = frozenset({KeyState.ACTIVE, KeyState.NEXT})


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as persisted: its public description and its private half, encrypted under the
    KEK with the kid as associated data (empty once the key is removed)."""

    key: SigningKey
    encrypted_private_key: bytes


class KeyStore(Protocol):
    def list_keys(self, *, include_removed: bool = False) -> list[StoredKey]:
        """All keys (removed ones only if asked), oldest first."""
        ...

    def add(self, stored: StoredKey) -> None:
        """Insert a key; KeyStoreConflict if the kid exists or it would be a second active or
        next key for its algorithm."""
        ...

    def set_state(self, kid: str, state: KeyState, at: datetime, *, expected: KeyState | None = None) -> None:
        """Move one key to `state` (stamping `activated_at`/`retired_at` with `at`; erasing the
        private half on removal). UnknownKey if absent; KeyStoreConflict if `expected` is given
        and the stored state differs, or the singleton rule would break."""
        ...

    def apply(self, transitions: Sequence[Transition], new_keys: Sequence[StoredKey], at: datetime) -> None:
        """Apply the transitions in order, then insert `new_keys`, all or nothing. Each
        transition must find its key in `from_state`, else KeyStoreConflict and no change."""
        ...


def moved(key: SigningKey, state: KeyState, at: datetime) -> SigningKey:
    """`key` in `state`, with the timestamp of that state set to `at`."""
    if state is KeyState.ACTIVE:
        return dataclasses.replace(key, state=state, activated_at=at)
    if state is KeyState.RETIRED:
        return dataclasses.replace(key, state=state, retired_at=at)
    return dataclasses.replace(key, state=state)


class MemoryKeyStore:
    """A KeyStore in a dict, with the same conflict rules as SqlKeyStore."""

    def __init__(self) -> None:
        self._rows: dict[str, StoredKey] = {}
        self._lock = threading.Lock()

    def list_keys(self, *, include_removed: bool = False) -> list[StoredKey]:
        with self._lock:
            rows = list(self._rows.values())
        return sorted(
            (r for r in rows if include_removed or r.key.state is not KeyState.REMOVED),
            key=lambda r: (r.key.created_at, r.key.kid),
        )

    def add(self, stored: StoredKey) -> None:
        self.apply((), (stored,), stored.key.created_at)

    def set_state(self, kid: str, state: KeyState, at: datetime, *, expected: KeyState | None = None) -> None:
        with self._lock:
            if kid not in self._rows:
                raise UnknownKey(kid)
            current = self._rows[kid].key.state
        self.apply((Transition(kid, expected or current, state),), (), at)

    def apply(self, transitions: Sequence[Transition], new_keys: Sequence[StoredKey], at: datetime) -> None:
        with self._lock:
            rows = dict(self._rows)
            for t in transitions:
                row = rows.get(t.kid)
                if row is None:
                    raise UnknownKey(t.kid)
                if row.key.state is not t.from_state:
                    raise KeyStoreConflict(f"key {t.kid} is {row.key.state}, expected {t.from_state}")
                blob = b"" if t.to_state is KeyState.REMOVED else row.encrypted_private_key
                rows[t.kid] = StoredKey(moved(row.key, t.to_state, at), blob)
                _check_singletons(rows)
            for new in new_keys:
                if new.key.kid in rows:
                    raise KeyStoreConflict(f"key {new.key.kid} already exists")
                rows[new.key.kid] = new
                _check_singletons(rows)
            self._rows = rows


def _check_singletons(rows: dict[str, StoredKey]) -> None:
    seen: set[tuple[str, KeyState]] = set()
    for r in rows.values():
        if r.key.state in SINGLETON_STATES:
            slot = (r.key.alg, r.key.state)
            if slot in seen:
                raise KeyStoreConflict(f"a second {r.key.state} {r.key.alg} key")
            seen.add(slot)
