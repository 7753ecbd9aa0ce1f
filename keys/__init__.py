"""Signing keys: generation, encryption at rest, rotation states, JWKS, signing and verification."""

from keys.errors import (
    InsecureKekFile,
    InvalidToken,
    KeyDecryptionError,
    KeysError,
    KeyStoreConflict,
    KeyStoreUnavailable,
    NoActiveKey,
    UnknownKey,
    UnsupportedAlgorithm,
)
from keys.models import SUPPORTED_ALGS, KeyState, SigningKey

__all__ = [
    "SUPPORTED_ALGS",
    "InsecureKekFile",
    "InvalidToken",
    "KeyDecryptionError",
    "KeyState",
    "KeyStoreConflict",
    "KeysError",
    "NoActiveKey",
    "SigningKey",
    "KeyStoreUnavailable",
    "UnknownKey",
    "UnsupportedAlgorithm",
]
