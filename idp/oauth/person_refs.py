"""Sealed person references: how a token with a pairwise `sub` still names its person to us.

A pairwise client must never read the person's own id (OIDC Core §8: it would join records across
sectors), yet userinfo, introspection and token exchange must find the person behind its access
token. The token carries the id encrypted (AES-256-GCM, a random nonce each time, so two tokens'
references never match) under a key only the provider holds. The reference is not bound to a client:
the token that carries it is signed, so it cannot be moved to another token, and a token whose `sub`
is for one client but which is issued to another (token exchange) still names its person.
"""

from __future__ import annotations

import base64
import binascii

from keys.encryption import KeyEncryptor
from keys.errors import KeyDecryptionError

# A private claim name (RFC 7519 §4.3), unlikely to collide with a registered one.
PERSON_REF_CLAIM = "idp_person_ref"
_AAD = b"idp person reference v1"


class PersonRefs:
    def __init__(self, key: bytes) -> None:
        self._cipher = KeyEncryptor(key)

    def seal(self, person_id: str) -> str:
        blob = self._cipher.encrypt(person_id.encode(), _AAD)
        return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def open(self, ref: str) -> str | None:
        """The person id, or None when `ref` was not sealed with our key."""
        if len(ref) > 512:
            return None
        try:
            blob = base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))
            return self._cipher.decrypt(blob, _AAD).decode()
        except (binascii.Error, ValueError, KeyDecryptionError, UnicodeDecodeError):
            return None
