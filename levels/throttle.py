"""Rate limits on credential checks: failures per account and per client IP in a fixed window.

Every credential check goes `check` → verify → `failed` or `succeeded`. The account key is the
normalized national code whether or not an account exists, so throttling behaves the same for
known and unknown accounts and cannot be used to find out which national codes are registered.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol


class Counter(Protocol):
    """The part of the ephemeral store a throttle needs (`idp.store.Store` has all of it)."""

    def incr(self, key: str, window: float) -> int:
        """Add one to a counter and return it; the counter expires window seconds after it started."""
        ...

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        """Remaining seconds of each key (None if absent), in one round trip."""
        ...

    def ttl(self, key: str) -> float | None:
        """Seconds until key expires, or None if it is absent."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store value under key for ttl seconds, replacing any previous value."""
        ...

    def delete(self, key: str) -> None:
        """Forget key; no error if absent."""
        ...


class TooManyAttempts(Exception):
    """Too many recent failures for this account or IP; `resets_in` seconds until attempts resume."""

    # A plain attribute rather than a frozen dataclass: the interpreter and contextlib assign
    # `__traceback__` on exceptions, which a frozen dataclass would refuse.
    def __init__(self, resets_in: float) -> None:
        super().__init__(f"too many failed attempts; retry in {resets_in:.0f} s")
        self.resets_in = resets_in


class LoginThrottle:
    """Blocks an account after `per_account` failures, and an IP after `per_ip`, within `window` s.

    The window is fixed: it starts at the first failure and the block lasts until it ends.
    `secret`, if given, keys the hash that keeps national codes out of the store; without it the
    hash is a pseudonym only, since all 10^9 possible codes are quick to enumerate. `namespace`
    keeps separate throttles (people signing in, clients authenticating) from sharing counters.
    """

    def __init__(
        self,
        counter: Counter,
        *,
        per_account: int = 5,
        per_ip: int = 50,
        window: float = 900,
        secret: bytes = b"",
        namespace: str = "throttle",
    ) -> None:
        self._counter = counter
        self._per_account = per_account
        self._per_ip = per_ip
        self._window = window
        self._secret = secret
        self._namespace = namespace

    def _account(self, account_key: str) -> str:
        digest = hmac.new(self._secret, account_key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._namespace}:acct:{digest}"

    def _ip(self, ip: str) -> str:
        return f"{self._namespace}:ip:{ip}"

    def check(self, account_key: str, ip: str) -> None:
        """Raise `TooManyAttempts` if the account or the IP is blocked. Counts nothing."""
        # A count cannot be read back portably (the memory store's `get` hides counters), so
        # reaching a limit sets a separate block key that lives as long as the window.
        waits = self._counter.ttl_many([self._account(account_key) + ":blocked", self._ip(ip) + ":blocked"])
        blocked = [w for w in waits if w is not None]
        if blocked:
            raise TooManyAttempts(resets_in=max(blocked))

    def failed(self, account_key: str, ip: str) -> None:
        """Count one failure against both the account and the IP."""
        for key, limit in ((self._account(account_key), self._per_account), (self._ip(ip), self._per_ip)):
            if self._counter.incr(key, self._window) >= limit:
                remaining = self._counter.ttl(key)
                self._counter.set(key + ":blocked", b"1", self._window if remaining is None else remaining)

    def succeeded(self, account_key: str) -> None:
        """Forget the account's failures. The IP's count stands: one success says nothing about the rest."""
        key = self._account(account_key)
        self._counter.delete(key)
        self._counter.delete(key + ":blocked")
