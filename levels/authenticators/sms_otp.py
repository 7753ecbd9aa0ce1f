"""One-time codes by SMS (a weak possession factor, amr `sms`), kept in the ephemeral store.

A challenge is stored under its random id as HMAC(secret, id, subject, purpose, code): the code
itself is never stored, and a code for one person or purpose does not verify for another.

Codes are limited per subject and purpose, not per sign-in: a second sign-in moments after the
first is not sent another code but offered the one still valid (`ResendTooSoon.pending`), which the
person has on their phone; a code that was used lifts the wait, since the next one is then needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from levels.authenticators.base import Challenge, Step
from levels.errors import LevelsError
from levels.iranian_input import normalize_digits
from levels.people import Person
from levels.policy import FactorKind
from levels.sms import SmsDeliveryFailed, SmsGateway, check_e164, mask_mobile
from levels.throttle import TooManyAttempts

# The code a step-up is bound to, by the step's binding (and, with ":hint", the masked number).
STEP_PREFIX = "step-sms:"

CODE_DIGITS = 6
CODE_TTL = 120  # seconds a code can be used

_MESSAGES = {
    "fa": "کد ورود شما: {code}\nاین کد را به هیچ‌کس ندهید.",
    "en": "Your sign-in code: {code}\nDo not share it with anyone.",
}

class OtpStore(Protocol):
    """The part of the ephemeral store SMS codes need (`idp.storage.store.Store` has all of it)."""

    def get(self, key: str) -> bytes | None:
        """Return the value, or None if the key is unknown or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store value under key for ttl seconds, replacing any previous value."""
        ...

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Store value only if key is absent; True if stored."""
        ...

    def take(self, key: str) -> bytes | None:
        """Return the value and delete it atomically: of concurrent callers only one gets it."""
        ...

    def delete(self, *keys: str) -> None:
        """Forget the keys, in one round trip; no error for any that is absent."""
        ...

    def incr(self, key: str, window: float) -> int:
        """Add one to a counter and return it; the counter expires window seconds after it started."""
        ...

    def ttl(self, key: str) -> float | None:
        """Seconds until key expires, or None if it is absent."""
        ...


@dataclass(frozen=True, slots=True)
class OtpChallenge:
    """A code on its way to the person: what the page needs to ask for it, and nothing secret."""

    id: str
    subject: str
    purpose: str
    mobile_hint: str
    expires_at: datetime
    resend_at: datetime


class ResendTooSoon(LevelsError):
    """A code was sent to this person for this purpose moments ago; `retry_in` seconds until another.

    `pending` is that code's challenge while it can still be answered and went to the same number:
    the caller asks for that code instead of leaving the person waiting. None once it was used up
    by wrong guesses, or when it went to another number.
    """

    def __init__(self, retry_in: float, pending: OtpChallenge | None = None) -> None:
        super().__init__(f"a code was just sent; retry in {retry_in:.0f} s")
        self.retry_in = retry_in
        self.pending = pending


# The store keys: "<namespace>:challenge:<id>" (with "...:attempts") and, per subject and purpose,
# "<namespace>:limit:<hash>" with the send window ("...:sends"), the resend wait ("...:resend")
# and the latest challenge sent ("...:latest").
DEFAULT_NAMESPACE = "sms-otp"
_RESEND = ":resend"
_SENDS = ":sends"
_LATEST = ":latest"
_ATTEMPTS = ":attempts"


class SmsOtp:
    """Sends six-digit codes and checks them: single use, `ttl` seconds, `max_attempts` guesses.

    Per subject and purpose, a new code can be sent `resend_after` seconds after the last one (or
    as soon as that one was verified), and at most `max_sends` times per `send_window` seconds,
    which bounds both the cost of messages and how many codes an attacker can have live at once.
    """

    def __init__(
        self,
        store: OtpStore,
        gateway: SmsGateway,
        *,
        secret: bytes,
        ttl: float = CODE_TTL,
        max_attempts: int = 5,
        resend_after: float = 60,
        max_sends: int = 5,
        send_window: float = 900,
        clock: Callable[[], float] = time.time,
        namespace: str = DEFAULT_NAMESPACE,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("SmsOtp needs a secret: without it stored MACs could be brute-forced offline")
        self._store = store
        self._gateway = gateway
        self._secret = secret
        self._ttl = ttl
        self._max_attempts = max_attempts
        self._resend_after = resend_after
        self._max_sends = max_sends
        self._send_window = send_window
        self._clock = clock
        self._ns = namespace
        self._on_refused = on_refused  # told the namespace of each send refused by the limit (metrics)

    def send(self, subject: str, mobile: str, purpose: str, locale: str = "fa") -> OtpChallenge:
        """Send a new code to `mobile` (E.164) and return its challenge.

        Raises `ResendTooSoon` within `resend_after` of the previous code unless that one was
        verified (with the previous challenge if it is still pending for this number),
        `TooManyAttempts` past `max_sends` in the window, `SmsDeliveryFailed` if the gateway refused
        the message (the person may then retry at once), and ValueError for a number that is not E.164.
        """
        check_e164(mobile)
        limit_key = self._limit_key(subject, purpose)
        if self._resend_after > 0 and not self._store.add(limit_key + _RESEND, b"1", self._resend_after):
            raise ResendTooSoon(retry_in=self._store.ttl(limit_key + _RESEND) or self._resend_after,
                                pending=self._pending(limit_key, subject, purpose, mobile))
        if self._store.incr(limit_key + _SENDS, self._send_window) > self._max_sends:
            # Nothing was sent, so there is nothing to wait for: asking again says "too many" again.
            self._store.delete(limit_key + _RESEND)
            if self._on_refused is not None:
                self._on_refused(self._ns)
            raise TooManyAttempts(resets_in=self._store.ttl(limit_key + _SENDS) or self._send_window)

        challenge_id = secrets.token_urlsafe(24)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        self._store.set(self._challenge_key(challenge_id), self._mac(challenge_id, subject, purpose, code), self._ttl)
        # Recorded before the message goes out: a sign-in arriving meanwhile is offered this code.
        self._store.set(limit_key + _LATEST, self._latest(challenge_id, mobile), self._ttl)
        try:
            self._gateway.send(mobile, _MESSAGES.get(locale, _MESSAGES["en"]).format(code=code))
        except SmsDeliveryFailed:
            self._store.delete(self._challenge_key(challenge_id), limit_key + _LATEST, limit_key + _RESEND)
            raise
        now = self._clock()
        return OtpChallenge(
            id=challenge_id,
            subject=subject,
            purpose=purpose,
            mobile_hint=mask_mobile(mobile),
            expires_at=datetime.fromtimestamp(now + self._ttl, UTC),
            resend_at=datetime.fromtimestamp(now + self._resend_after, UTC),
        )

    def verify(self, challenge_id: str, subject: str, purpose: str, code: str) -> bool:
        """True once for the right code, for the subject and purpose it was sent for; else False.

        Persian and Arabic digits are accepted. Every call counts as an attempt, and the challenge is
        destroyed by a success or by the `max_attempts`-th attempt, after which it always fails.
        """
        key = self._challenge_key(challenge_id)
        attempts_key = key + _ATTEMPTS
        # Counted before comparing, atomically, so parallel guesses cannot exceed the limit.
        attempts = self._store.incr(attempts_key, self._ttl)
        if attempts > self._max_attempts:
            self._store.delete(key)
            return False
        stored = self._store.get(key)
        if stored is None:
            return False
        expected = self._mac(challenge_id, subject, purpose, normalize_digits(code))
        if not hmac.compare_digest(stored, expected):
            if attempts >= self._max_attempts:
                self._store.delete(key)
            return False
        # Of two requests carrying the right code, only the one that takes the challenge succeeds.
        taken = self._store.take(key)
        if taken is None or not hmac.compare_digest(taken, expected):
            return False
        # The person has just shown they receive the codes: the next sign-in may get one at once.
        # (Wrong guesses never lift the wait, or each burnt code would buy another message.)
        limit_key = self._limit_key(subject, purpose)
        self._store.delete(attempts_key, limit_key + _RESEND, limit_key + _LATEST)
        return True

    def is_pending(self, challenge_id: str) -> bool:
        """True while the challenge can still be answered (not expired, used up, or verified)."""
        return self._store.get(self._challenge_key(challenge_id)) is not None

    def _pending(self, limit_key: str, subject: str, purpose: str, mobile: str) -> OtpChallenge | None:
        """The latest challenge for this subject and purpose, if it went to `mobile` and can still be
        answered."""
        raw = self._store.get(limit_key + _LATEST)
        if raw is None:
            return None
        challenge_id = raw[32:].decode()
        if not hmac.compare_digest(raw, self._latest(challenge_id, mobile)):
            return None
        expires_in = self._store.ttl(self._challenge_key(challenge_id))
        if expires_in is None:
            return None
        now = self._clock()
        return OtpChallenge(
            id=challenge_id, subject=subject, purpose=purpose, mobile_hint=mask_mobile(mobile),
            expires_at=datetime.fromtimestamp(now + expires_in, UTC),
            resend_at=datetime.fromtimestamp(now + (self._store.ttl(limit_key + _RESEND) or 0.0), UTC),
        )

    def _latest(self, challenge_id: str, mobile: str) -> bytes:
        # The number only as a MAC, like the subject in `_limit_key`: the store never sees it.
        number = hmac.new(self._secret, json.dumps(["mobile", mobile]).encode(), hashlib.sha256).digest()
        return number + challenge_id.encode()

    def _mac(self, challenge_id: str, subject: str, purpose: str, code: str) -> bytes:
        message = json.dumps([challenge_id, subject, purpose, code]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def _challenge_key(self, challenge_id: str) -> str:
        return f"{self._ns}:challenge:{challenge_id}"

    def _limit_key(self, subject: str, purpose: str) -> str:
        # Hashed so that a subject which is a national code or a phone number stays out of the store.
        digest = hmac.new(self._secret, json.dumps(["limit", subject, purpose]).encode(), hashlib.sha256)
        return f"{self._ns}:limit:{digest.hexdigest()[:32]}"


class SmsAuthenticator:
    """A code by SMS as a step-up factor, to the person's verified mobile number.

    The code is bound to the step (`step-sms:<binding>`); a step arriving moments after another
    sign-in for the same person is bound to the code that sign-in sent, still valid, rather than
    left without one until the resend interval ends. Challenge statuses: `ready` (the bound code
    still stands), `sent`, `resent`, `reused` (another sign-in's code), `too_soon`, `too_many`.
    """

    method = "sms"
    kind = FactorKind.POSSESSION
    amr = ("sms",)
    preference = 2
    purpose = "step-up"

    def __init__(self, otp: SmsOtp, store: OtpStore, *, hint_ttl: float) -> None:
        self._otp = otp
        self._store = store
        self._hint_ttl = hint_ttl  # as long as the step can last: the page shows the number throughout

    def available(self, person: Person) -> bool:
        return bool(person.mobile and person.mobile_verified)

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        key = self._key(step)
        pending = self._store.get(key)
        hint = self._store.get(key + ":hint")
        if pending is not None and hint is not None and not again:
            return Challenge({"mobile_hint": hint.decode()})
        shown_hint = hint.decode() if hint else mask_mobile(str(step.person.mobile))
        try:
            challenge = self._otp.send(step.person.id, str(step.person.mobile), self.purpose, step.locale)
        except ResendTooSoon as exc:
            if exc.pending is not None:
                self._bind(key, exc.pending)
                shown_hint = exc.pending.mobile_hint
                if not again:
                    return Challenge({"mobile_hint": shown_hint}, "reused")
            return Challenge({"mobile_hint": shown_hint}, "too_soon", exc.retry_in, refused=again)
        except TooManyAttempts as exc:
            return Challenge({"mobile_hint": shown_hint}, "too_many", exc.resets_in, refused=again)
        self._bind(key, challenge)
        return Challenge({"mobile_hint": challenge.mobile_hint}, "resent" if again else "sent")

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        key = self._key(step)
        challenge = self._store.get(key)
        if challenge is None:
            return False
        if self._otp.verify(challenge.decode(), step.person.id, self.purpose, form.get("code", "")[:12]):
            self._store.delete(key)
            return True
        return False

    def _bind(self, key: str, challenge: OtpChallenge) -> None:
        ttl = max(1.0, (challenge.expires_at - datetime.now(UTC)).total_seconds())
        self._store.set(key, challenge.id.encode(), ttl)
        self._store.set(key + ":hint", challenge.mobile_hint.encode(), self._hint_ttl)

    @staticmethod
    def _key(step: Step) -> str:
        return f"{STEP_PREFIX}{step.binding}"
