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
from collections.abc import Callable

import pyotp
import segno

from levels.national_code import normalize_digits

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
