"""Client secrets: generated here, shown to the operator once, stored only as a hash.

SHA-256 rather than argon2 is deliberate: a client secret is 256 random bits, so a slow hash adds
no protection against guessing, and argon2 would cap the token endpoint at a few dozen requests a
second. Human passwords are a different matter and live in `levels`.
"""

from __future__ import annotations

import hashlib
import secrets as _random

SECRET_BYTES = 32


def new_secret() -> str:
    """Return a fresh 256-bit random secret as URL-safe text (43 characters, no padding)."""
    return _random.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """Return the lowercase hex SHA-256 of `secret` (UTF-8): the only form a secret is stored in."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
