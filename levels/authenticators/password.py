"""Passwords (the knowledge factor, amr `pwd`), hashed with argon2id.

The defaults are OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 20-50 ms per check,
which is what makes the per-account and per-IP throttles affordable rather than optional. What a new
password must be is `levels.registration.check_new_password`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Protocol

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from levels.authenticators.base import Challenge, Step
from levels.people import Person
from levels.policy import FactorKind

# The sign-in forms read at most this many characters of a password.
MAX_LENGTH = 1024


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


class PasswordHashes(Protocol):
    """Where a person's password hash is kept (`levels.people.SqlPersonStore` is one)."""

    def password_hash(self, person_id: str) -> str | None:
        """The person's hash, or None if they have no password."""
        ...


class PasswordAuthenticator:
    """The password as a step-up factor: re-typed on the step page, checked against the stored hash."""

    method = "pwd"
    kind = FactorKind.KNOWLEDGE
    amr = ("pwd",)
    preference = 3  # the weakest factor and the one people forget: asked last

    def __init__(self, passwords: Passwords, hashes: PasswordHashes) -> None:
        self._passwords = passwords
        self._hashes = hashes

    def available(self, person: Person) -> bool:
        return bool(self._hashes.password_hash(person.id))

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        return Challenge()

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        password = form.get("password", "")[:MAX_LENGTH]
        return self._passwords.verify(self._hashes.password_hash(step.person.id), password)
