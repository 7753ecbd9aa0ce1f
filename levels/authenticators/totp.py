"""Time-based one-time passwords (RFC 6238, amr `otp`) from an authenticator app, and recovery codes.

`Totp.verify` returns the time step a code matched, so callers can refuse a code already used:
store the step with `SqlCredentialStore.advance_totp_counter`, which only moves forward.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import pyotp
import segno

from levels.authenticators.base import Challenge, EnrolmentFailed, Step
from levels.iranian_input import normalize_digits
from levels.people import Person
from levels.policy import FactorKind

# Where an authenticator app being enrolled waits for its first code, by ticket (the session).
PENDING_PREFIX = "totp-pending:"

if TYPE_CHECKING:
    from levels.credentials_sql import CredentialStore

SECRET_BASE32_CHARS = 32  # 160 bits, the HMAC-SHA1 block-size recommendation of RFC 4226 §4

# Crockford's base32: no I, L, O or U, and what people mistype for them is mapped back on input.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS = (4, 4, 2)  # 10 characters of 5 bits: 50 bits per code
_RECOVERY_TYPOS = str.maketrans("oil", "011")
_RECOVERY_FORM = re.compile(f"[{RECOVERY_ALPHABET}]{{{sum(RECOVERY_GROUPS)}}}")


class Totp:
    """Enrols and checks TOTP codes: `digits` digits per `interval` s, `valid_window` steps either side."""

    def __init__(
        self,
        *,
        issuer: str = "National sign-in",
        digits: int = 6,
        interval: int = 30,
        valid_window: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuer = issuer
        self._digits = digits
        self._interval = interval
        self._valid_window = valid_window
        self._clock = clock
        self._code_form = re.compile(f"[0-9]{{{digits}}}")

    def new_secret(self) -> str:
        """A fresh random secret, base32 without padding (160 bits)."""
        return pyotp.random_base32(SECRET_BASE32_CHARS)

    def provisioning_uri(self, secret: str, account_name: str) -> str:
        """The `otpauth://totp/...` URI an authenticator app scans to enrol `secret`."""
        return self._totp(secret).provisioning_uri(name=account_name, issuer_name=self._issuer)

    def qr_svg(self, uri: str) -> str:
        """`uri` as a QR code: an `<svg>` element without XML declaration, for inline use in HTML."""
        # A white quiet zone is drawn explicitly so the code still scans on a dark page theme.
        return segno.make(uri, error="m").svg_inline(scale=4, light="#fff", title="QR code")

    def verify(self, secret: str, code: str, last_counter: int | None) -> int | None:
        """The time step `code` belongs to if it is valid now and later than `last_counter`; else None.

        A code is valid for the current step and `valid_window` steps either side (clock drift).
        Refusing steps at or before `last_counter` makes each code single-use and keeps an older,
        observed code from being replayed while it is still within the window.
        """
        code = normalize_digits(code)
        if not self._code_form.fullmatch(code):
            return None
        totp = self._totp(secret)
        now = int(self._clock() // self._interval)
        for counter in range(now - self._valid_window, now + self._valid_window + 1):
            if counter < 0 or (last_counter is not None and counter <= last_counter):
                continue
            if hmac.compare_digest(totp.generate_otp(counter), code):
                return counter
        return None

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self._digits, interval=self._interval)


def new_recovery_codes(n: int = 10) -> list[str]:
    """`n` fresh single-use recovery codes shaped `xxxx-xxxx-xx`, 50 random bits each."""
    return [
        "-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(size)) for size in RECOVERY_GROUPS)
        for _ in range(n)
    ]


def normalize_recovery_code(code: str) -> str:
    """The code as generated, without separators: lower case, Persian digits and look-alikes mapped."""
    return normalize_digits(code).lower().translate(_RECOVERY_TYPOS)


def is_recovery_code_form(code: str) -> bool:
    """True if `code` could be a recovery code (so a TOTP code typed in the wrong box is told apart)."""
    return _RECOVERY_FORM.fullmatch(normalize_recovery_code(code)) is not None


def hash_recovery_code(code: str, secret: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalized code: what is stored and looked up, never the code itself."""
    return hmac.new(secret, normalize_recovery_code(code).encode(), hashlib.sha256).hexdigest()


class PendingSecrets(Protocol):
    """Where a secret waits while the person proves their app makes codes for it (the ephemeral store)."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...


ENROLMENT_TTL = 600  # seconds to scan the QR code and type the first code


class TotpAuthenticator:
    """An authenticator app (TOTP) as a step-up factor; a recovery code stands in for a code.

    Enrolment keeps the new secret aside (under the ticket, the session id) until a code from the
    app proves it was scanned; then the secret is stored and ten recovery codes are shown once.
    """

    method = "otp"
    kind = FactorKind.POSSESSION
    amr = ("otp",)
    preference = 1

    def __init__(self, totp: Totp, credentials: CredentialStore, pending: PendingSecrets, *,
                 recovery_key: bytes) -> None:
        self._totp = totp
        self._credentials = credentials
        self._pending = pending
        self._recovery_key = recovery_key

    def available(self, person: Person) -> bool:
        return self._credentials.has_totp(person.id)

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        return Challenge()

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        """A current, unused app code, or an unused recovery code (used up by this)."""
        person_id = step.person.id
        code = form.get("code", "")[:20]
        secret = self._credentials.totp_secret(person_id)
        if secret is None:
            return False
        digits = normalize_digits(code)
        now = datetime.now(UTC)
        if digits.isdigit():
            counter = self._totp.verify(secret, digits, self._credentials.totp_last_counter(person_id))
            # The compare-and-set is the real replay guard when two requests race with one code.
            return counter is not None and self._credentials.advance_totp_counter(person_id, counter, now)
        return self._credentials.use_recovery_code(person_id, hash_recovery_code(code, self._recovery_key), now)

    def enrolled(self, person: Person) -> Mapping[str, object]:
        return {"has_totp": self._credentials.has_totp(person.id),
                "recovery_left": self._credentials.remaining_recovery_codes(person.id)}

    def begin_enrolment(self, person: Person, ticket: str) -> Mapping[str, object]:
        secret = self._totp.new_secret()
        self._pending.set(_pending_key(ticket), secret.encode(), ENROLMENT_TTL)
        return self._scan(person, secret)

    def finish_enrolment(self, person: Person, ticket: str, form: Mapping[str, str]) -> Mapping[str, object]:
        pending = self._pending.get(_pending_key(ticket))
        if pending is None:
            raise EnrolmentFailed("Start the setup again.")
        secret = pending.decode()
        counter = self._totp.verify(secret, normalize_digits(form.get("code", ""))[:8], None)
        if counter is None:
            raise EnrolmentFailed("That code is not correct.", self._scan(person, secret))
        now = datetime.now(UTC)
        codes = new_recovery_codes()
        self._credentials.set_totp(person.id, secret, now)
        self._credentials.advance_totp_counter(person.id, counter, now)
        self._credentials.replace_recovery_codes(
            person.id, [hash_recovery_code(c, self._recovery_key) for c in codes], now)
        self._pending.delete(_pending_key(ticket))
        return {"recovery_codes": codes}

    def remove(self, person: Person, credential_id: str | None = None) -> bool:
        had = self._credentials.has_totp(person.id)
        self._credentials.delete_totp(person.id)
        self._credentials.replace_recovery_codes(person.id, [], datetime.now(UTC))
        return had

    def _scan(self, person: Person, secret: str) -> Mapping[str, object]:
        uri = self._totp.provisioning_uri(secret, person.national_code)
        return {"enrolling": True, "totp_secret": secret, "qr_svg": self._totp.qr_svg(uri)}


def _pending_key(ticket: str) -> str:
    return f"{PENDING_PREFIX}{ticket}"
