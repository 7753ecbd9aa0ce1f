"""Client secrets (`clients.secrets`): 256 random bits shown once, stored as a SHA-256 hash."""

from __future__ import annotations

import base64
import re

from clients.secrets import hash_secret, new_secret


def test_a_new_secret_is_256_random_bits_in_url_safe_text() -> None:
    made = {new_secret() for _ in range(200)}
    assert len(made) == 200
    for secret in made:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32


def test_the_stored_hash_is_the_sha256_of_the_utf8_text() -> None:
    # FIPS 180-2 test vector, and a non-ASCII secret hashed as its UTF-8 bytes.
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_secret("رمز") == "de5c799a0c00717dbe13883ac0913bba9990d01cb77083ab6eea07fa822eb5da"
    assert hash_secret("رمز ") != hash_secret("رمز")
    secret = new_secret()
    assert hash_secret(secret) == hash_secret(secret) and secret not in hash_secret(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret(secret))
