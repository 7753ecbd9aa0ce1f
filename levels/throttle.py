"""Rate limits on credential checks that stop guessing without letting anyone lock the owner out.

NIST SP 800-63B §5.2.2 (rate limiting) and OWASP's "device cookies": failures are counted in a
fixed window, and a limit stops the place the failures come from, not the account everywhere.

- Per place (the client IP; an IPv6 /64 is one place, since anyone holding one can use all of it):
  one place guessing many accounts is stopped.
- Per account at a place: after `delay_after` failures each further attempt must wait, doubling
  from `first_delay` seconds; at `per_account_ip` the place is stopped for that account.
- Per device: a browser that signed in to the account before (the web layer checks its device
  cookie) is counted on its own, and only its own limit (slowed, then stopped, like a place) refuses
  it. Failures elsewhere never do: the account's owner keeps getting in from their own browser.
- Per account, from browsers it does not know: the cap on guessing spread over many places. While
  it is reached, attempts without a known device are refused; known devices are not.

Every credential check goes `check` → verify → `failed` or `succeeded`. The account key is, for
people, the normalized national code whether or not an account exists, so the limits behave (and
take) the same for known and unknown accounts and cannot tell which national codes are registered.
A count cannot be read back portably (the memory store's `get` hides counters), so reaching a limit
sets a separate `:blocked` (or `:wait`) key that lives as long as the block; `check` reads those.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from typing import Protocol

from levels.errors import LevelsError


class Counter(Protocol):
    """The part of the ephemeral store a throttle needs (`idp.storage.store.Store` has all of it)."""

    def incr(self, key: str, window: float) -> int:
        """Add one to a counter and return it; the counter expires window seconds after it started."""
        ...

    def ttl_many(self, keys: list[str]) -> list[float | None]:
        """Remaining seconds of each key (None if absent), in one round trip."""
        ...

    async def ttl_many_async(self, keys: list[str]) -> list[float | None]:
        """`ttl_many` without blocking an event loop."""
        ...

    def ttl(self, key: str) -> float | None:
        """Seconds until key expires, or None if it is absent."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store value under key for ttl seconds, replacing any previous value."""
        ...

    def delete(self, *keys: str) -> None:
        """Forget the keys, in one round trip; no error for any that is absent."""
        ...


class TooManyAttempts(LevelsError):
    """Too many recent failures from here; `resets_in` seconds until the next attempt is allowed."""

    # A plain attribute rather than a frozen dataclass: the interpreter and contextlib assign
    # `__traceback__` on exceptions, which a frozen dataclass would refuse.
    def __init__(self, resets_in: float) -> None:
        super().__init__(f"too many failed attempts; retry in {resets_in:.0f} s")
        self.resets_in = resets_in


# The store keys a throttle writes: "<namespace>:<counter>:<hash>", and beside a counter that
# reached its limit (or its slow-down) a key that lives as long as the block ("...:blocked", "...:wait").
PER_PLACE = "ip"
PER_ACCOUNT_AT_PLACE = "acip"
PER_ACCOUNT = "acct"
PER_DEVICE = "dev"
COUNTERS = (PER_PLACE, PER_ACCOUNT_AT_PLACE, PER_ACCOUNT, PER_DEVICE)
BLOCKED = ":blocked"
WAIT = ":wait"
DEFAULT_NAMESPACE = "throttle"


@functools.lru_cache(maxsize=4096)
def place(ip: str) -> str:
    """The unit a per-IP limit counts: the address itself, but an IPv6 address's /64 network (one
    subscriber's allocation); anything that is not an address (a test client's name) as given."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottle:
    """Failure limits per place, per account at a place, per known device, and per account from
    unknown devices (see the module docstring). A limit left as None is not applied.

    `secret` keys the hashes that keep account names (national codes), addresses and device ids
    out of the store; without it the hash is a pseudonym only, since all 10^9 possible codes are
    quick to enumerate. `namespace` keeps separate throttles (people signing in, clients authenticating,
    registrations) from sharing counters.
    """

    def __init__(
        self,
        counter: Counter,
        *,
        per_ip: int | None = 50,
        per_account: int | None = None,
        per_account_ip: int | None = None,
        per_device: int | None = None,
        window: float = 900,
        delay_after: int | None = None,
        first_delay: float = 1.0,
        secret: bytes = b"",
        namespace: str = DEFAULT_NAMESPACE,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._counter = counter
        self._per_ip = per_ip
        self._per_account = per_account
        self._per_account_ip = per_account_ip
        self._per_device = per_device
        self._window = window
        self._delay_after = delay_after
        self._first_delay = first_delay
        self._secret = secret
        self._namespace = namespace
        self._on_refused = on_refused  # told the namespace of each refused attempt (the provider's metrics)

    def _hashed(self, scope: str, *parts: str) -> str:
        digest = hmac.new(self._secret, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._namespace}:{scope}:{digest}"

    def _keys(self, account: str | None, ip: str, device: str | None) -> list[tuple[str, int, bool]]:
        """The counters one attempt is judged by: (key, limit, slowed before the limit)."""
        if device is not None and account is not None and self._per_device is not None:
            # A known device answers for itself alone: its failures neither use up the place's
            # allowance nor move the account towards the cap that refuses unknown devices.
            return [(self._hashed(PER_DEVICE, account, device), self._per_device, True)]
        candidates = [(self._hashed(PER_PLACE, place(ip)), self._per_ip, False)]
        if account is not None:
            candidates.append((self._hashed(PER_ACCOUNT_AT_PLACE, account, place(ip)), self._per_account_ip, True))
            candidates.append((self._hashed(PER_ACCOUNT, account), self._per_account, False))
        keys = []
        for key, limit, slowed in candidates:
            if limit is not None:
                keys.append((key, limit, slowed))
        return keys

    def check(self, account: str | None, ip: str, device: str | None = None) -> None:
        """Raise `TooManyAttempts` if this attempt must not be made now. Counts nothing.

        `account` None: an attempt that names no account (a passkey), limited per place only.
        `device`: an id the caller has verified as a device that signed in to `account` before.
        """
        self._judge(self._counter.ttl_many(self._markers(account, ip, device)))

    async def check_async(self, account: str | None, ip: str, device: str | None = None) -> None:
        """`check` from an event loop: the store is asked without blocking it."""
        self._judge(await self._counter.ttl_many_async(self._markers(account, ip, device)))

    def _markers(self, account: str | None, ip: str, device: str | None) -> list[str]:
        """The keys whose presence refuses an attempt now: blocked counters and waits."""
        keys = []
        for key, _, slowed in self._keys(account, ip, device):
            keys.append(key + BLOCKED)
            if slowed:
                keys.append(key + WAIT)
        return keys

    def _judge(self, remaining: list[float | None]) -> None:
        waits = [w for w in remaining if w is not None]
        if waits:
            if self._on_refused is not None:
                self._on_refused(self._namespace)
            raise TooManyAttempts(resets_in=max(waits))

    def failed(self, account: str | None, ip: str, device: str | None = None) -> None:
        """Count one failure against every counter the attempt was judged by."""
        for key, limit, slowed in self._keys(account, ip, device):
            count = self._counter.incr(key, self._window)
            if count >= limit:
                self._counter.set(key + BLOCKED, b"1", self._remaining(key))
            elif slowed and self._delay_after is not None and count >= self._delay_after:
                wait = self._first_delay * 2 ** (count - self._delay_after)
                self._counter.set(key + WAIT, b"1", min(wait, self._remaining(key)))

    def succeeded(self, account: str, ip: str, device: str | None = None) -> None:
        """Forget the account's failures at this place and on this device: whoever just proved
        themselves is there. The place's count and the account-wide count stand: one success says
        nothing about the other accounts tried from here, nor about guessing elsewhere."""
        keys = [self._hashed(PER_ACCOUNT_AT_PLACE, account, place(ip))]
        if device is not None:
            keys.append(self._hashed(PER_DEVICE, account, device))
        self._counter.delete(*(key + suffix for key in keys for suffix in ("", WAIT, BLOCKED)))

    def forget_account(self, account: str) -> None:
        """Lift the account-wide limit (an operator unlocking a person who called in): its count and
        its block. Per-place and per-device counts stay; they are about the places, not the person."""
        key = self._hashed(PER_ACCOUNT, account)
        self._counter.delete(*(key + suffix for suffix in ("", WAIT, BLOCKED)))

    def _remaining(self, key: str) -> float:
        remaining = self._counter.ttl(key)
        return self._window if remaining is None or remaining <= 0 else remaining
