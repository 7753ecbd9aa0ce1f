"""Encryption at rest of private signing keys under a key-encryption key (KEK)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.errors import InsecureKekFile, KeyDecryptionError

KEK_BYTES = 32
_NONCE_BYTES = 12
# A version byte lets a later format (e.g. a KEK id for KEK rotation) coexist with this one.
_VERSION = b"\x01"


class KeyEncryptor:
    """AES-256-GCM with a random 96-bit nonce per message.

    Blob layout: version (1 byte) || nonce (12) || ciphertext+tag. Callers pass the key's
    kid as `aad`, so a blob copied onto another row does not decrypt.
    """

    __slots__ = ("_aead",)

    def __init__(self, kek: bytes) -> None:
        """Raise ValueError unless `kek` is exactly 32 bytes."""
        if not isinstance(kek, bytes) or len(kek) != KEK_BYTES:
            raise ValueError(f"the key-encryption key must be {KEK_BYTES} bytes")
        self._aead = AESGCM(kek)

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Return the plaintext; raise KeyDecryptionError if the blob, the aad or the KEK is wrong."""
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
            raise KeyDecryptionError("not an encrypted key blob")
        nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise KeyDecryptionError("private key failed authentication (wrong KEK or tampered)") from None


def kek_from_text(text: str) -> bytes:
    """Decode a base64url KEK (padding optional); raise ValueError unless it is 32 bytes."""
    stripped = text.strip()
    try:
        kek = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("the key-encryption key is not valid base64url") from None
    if len(kek) != KEK_BYTES:
        raise ValueError(f"the key-encryption key must decode to {KEK_BYTES} bytes, got {len(kek)}")
    return kek


def load_or_create_kek(path: Path) -> bytes:
    """Return the KEK stored in `path`, creating the file (mode 0600) with a fresh KEK if absent.

    Raise InsecureKekFile if an existing file is not a regular file or is accessible by group
    or others, and ValueError if its content is not a base64url 32-byte key.
    """
    path = Path(path)
    if path.exists():
        return _read_kek(path)
    # Write a private temporary file, then hard-link it into place: link() fails if the name
    # exists, so racing processes agree on one KEK and nobody ever reads a half-written file.
    # The mode is given to open() so the file is never visible with looser permissions; fchmod
    # undoes a umask that would leave it unreadable to us.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, base64.urlsafe_b64encode(secrets.token_bytes(KEK_BYTES)).rstrip(b"=") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_kek(path)


def _read_kek(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InsecureKekFile(f"{path} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InsecureKekFile(
                f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run `chmod 600 {path}`"
            )
        with os.fdopen(fd, "r", encoding="ascii", closefd=False) as f:
            text = f.read()
    finally:
        os.close(fd)
    return kek_from_text(text)
