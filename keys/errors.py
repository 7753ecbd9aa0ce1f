"""Exceptions raised by the `keys` package; `idp` maps them to OAuth errors or CLI messages."""

from __future__ import annotations


class KeysError(Exception):
    """Base class for every error this package raises on purpose."""


class InvalidToken(KeysError):
    """The token is malformed, names an unknown key, or its signature does not verify."""


class KeyDecryptionError(KeysError):
    """A private key blob could not be decrypted: tampered, truncated, or a different KEK."""


class InsecureKekFile(KeysError):
    """The key-encryption-key file is readable by group or others, or is not a regular file."""


class UnsupportedAlgorithm(KeysError, ValueError):
    """The algorithm is not one this provider signs with (ES256, RS256)."""


class NoActiveKey(KeysError):
    """There is no active signing key for the algorithm; run `KeyRing.ensure()` (`idp init`)."""


class UnknownKey(KeysError):
    """No stored key has this kid."""


class KeyStoreConflict(KeysError):
    """Another writer changed the keys first (a duplicate kid, a second active/next key, or a
    state that is no longer what the caller expected). Re-read and plan again."""


class KeyStoreUnavailable(KeysError):
    """The durable key store could not be reached. A domain error like the others (`keys` never
    imports `idp`): the command line prints it, and the key ring keeps the keys it holds. It is not
    `idp.storage.store.StoreUnavailable`, which is the ephemeral store."""
