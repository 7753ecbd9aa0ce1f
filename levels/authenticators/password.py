"""Passwords (the knowledge factor, amr `pwd`), hashed with argon2id.

The defaults are OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 20-50 ms per check,
which is what makes the per-account and per-IP throttles affordable rather than optional.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from levels.errors import LevelsError

MIN_LENGTH = 8
# The login form reads at most this many characters, so a longer password could never be entered.
MAX_LENGTH = 1024


class WeakPassword(LevelsError, ValueError):
    """The new password is not acceptable; the message can be shown to the person."""


def check_new_password(password: str) -> None:
    """Raise `WeakPassword` unless `password` may be set as a new password."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")


class Passwords:
    """Hash and verify passwords with argon2id at the given cost."""

    def __init__(self, memory_kib: int = 19 * 1024, time_cost: int = 2, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # Verifying against this when the account or its password is unknown costs the same argon2
        # work as a real check, so response time does not tell which national codes have accounts.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A new salted argon2id hash in PHC string form (`$argon2id$v=19$m=...`)."""
        return self._hasher.hash(password)

    def verify(self, hash: str | None, password: str) -> bool:
        """True if `password` matches `hash`; False for a mismatch, a malformed hash, or no hash."""
        try:
            return self._hasher.verify(self._dummy if hash is None else hash, password) and hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hash: str) -> bool:
        """True if `hash` was made with other parameters than this instance's; rehash after login."""
        return self._hasher.check_needs_rehash(hash)
