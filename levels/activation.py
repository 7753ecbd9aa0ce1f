"""Activation codes: how a person whose account was made for them (at a counter office, or later by
an operator's command) sets their first password without knowing anything an attacker could look up.

A code is 8 random digits, sent by SMS to the mobile line checked at the counter. Only an HMAC of it
is kept, bound to the person, in the durable database: a code lives for days, so it must survive the
loss of the ephemeral store. One person has at most one code; issuing a new one replaces the old.

Guessing is bounded per code: each wrong code counts, and at `max_attempts` wrong codes the code is
dead (10^8 codes, so a guesser's chance is `max_attempts` in 10^8 per code issued). A dead or expired
code locks nobody out for good: a new code from an office or an operator replaces it. Whether a
national code has an account or a code is never told apart here: `check` does the same work for an
unknown person (`person_id` None) and answers False.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from levels.clock import utcnow
from levels.iranian_input import normalize_digits

CODE_DIGITS = 8
MAX_ATTEMPTS = 5
DEFAULT_TTL = 7 * 24 * 3600
# The person id `check` looks up for a national code without an account: never a real id.
_NOBODY = "-"


@dataclass(frozen=True, slots=True)
class ActivationRecord:
    person_id: str
    code_hash: str
    issued_at: datetime
    expires_at: datetime
    failures: int


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """A code just issued: the only time the code itself exists outside the person's phone."""

    code: str
    expires_at: datetime


class ActivationStore(Protocol):
    def replace(self, person_id: str, code_hash: str, issued_at: datetime, expires_at: datetime) -> None:
        """Store the person's code, replacing any earlier one (its failures with it)."""
        ...

    def get(self, person_id: str) -> ActivationRecord | None: ...

    def count_failure(self, person_id: str) -> int:
        """Add one wrong attempt to the person's code, atomically; the new count (0: no code)."""
        ...

    def take(self, person_id: str, code_hash: str) -> bool:
        """Delete the person's code if it is still the one hashed `code_hash`; whether it was."""
        ...

    def delete(self, person_id: str) -> None: ...


def normalize_code(text: str) -> str:
    """What a person typed, as the code was generated: Persian or Latin digits, spaces and dashes
    dropped; anything else is kept, so it simply does not match."""
    return normalize_digits(text)[:32]


def is_code_form(text: str) -> bool:
    """True if `text` could be an activation code (8 digits, in any script, with separators)."""
    code = normalize_code(text)
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


class Activations:
    """Issuing and checking activation codes (see the module docstring)."""

    def __init__(
        self, store: ActivationStore, secret: bytes, *, ttl: float = DEFAULT_TTL, max_attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._secret = secret
        self._ttl = ttl
        self._max_attempts = max_attempts
        self._clock = clock

    def issue(self, person_id: str) -> IssuedCode:
        """A new code for the person, replacing any earlier one."""
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        now = self._clock()
        expires_at = now + timedelta(seconds=self._ttl)
        self._store.replace(person_id, self.hash(person_id, code), now, expires_at)
        return IssuedCode(code, expires_at)

    def hash(self, person_id: str, code: str) -> str:
        """HMAC-SHA256 (hex) of the normalized code, bound to the person: what is stored and compared."""
        message = json.dumps(["activation", person_id, normalize_code(code)]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check(self, person_id: str | None, code: str) -> str | None:
        """The code's hash if `code` is the person's live code, else None; a wrong code counts
        against it. `person_id` None (no such account) does the same work and answers None."""
        subject = person_id or _NOBODY
        given = self.hash(subject, code)
        record = self._store.get(subject)
        live = (person_id is not None and record is not None and record.expires_at > self._clock()
                and record.failures < self._max_attempts)
        if live and record is not None and hmac.compare_digest(record.code_hash, given):
            return given
        # A wrong code, or no live code to compare with: the same write either way (it changes no
        # row when there is no code), so the time taken does not tell an account from none.
        if self._store.count_failure(subject) >= self._max_attempts:
            self._store.delete(subject)  # used up: only a new code helps now
        return None

    def redeem(self, person_id: str, code_hash: str) -> bool:
        """Use up the code `check` accepted (its hash); False if it has been used, replaced or has
        expired since (of two requests with the right code, only one gets True)."""
        record = self._store.get(person_id)
        if record is None or record.expires_at <= self._clock() or record.failures >= self._max_attempts:
            return False
        return self._store.take(person_id, code_hash)

    def pending(self, person_id: str) -> ActivationRecord | None:
        """The person's live code, if any (expired or used-up codes are not)."""
        record = self._store.get(person_id)
        if record is None or record.expires_at <= self._clock() or record.failures >= self._max_attempts:
            return None
        return record
