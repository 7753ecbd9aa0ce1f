"""The process-wide view of the signing keys: signs, verifies and serves the JWKS.

Everything the hot paths need (decrypted private keys as joserfc key objects, the public
key set, the serialized JWKS) is built once per load into an immutable snapshot; `sign`,
`verify` and `jwks_bytes` only read the current snapshot, so they take no lock and do no I/O
except when a reload is due.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from keys.encryption import KeyEncryptor
from keys.errors import InvalidToken, KeyDecryptionError, KeysError, KeyStoreConflict, NoActiveKey
from keys.jws import CompactSigner
from keys.models import SUPPORTED_ALGS, Alg, KeyState, SigningKey, check_alg
from keys.rotation import RotationPlan, RotationPolicy, plan_rotation, plan_transitions
from keys.store import KeyStore, StoredKey

log = logging.getLogger(__name__)

AsymmetricKey = ECKey | RSAKey

# Conflicts only happen when another process writes keys at the same moment; after a re-read
# the plan is usually empty, so a few attempts are plenty.
_MAX_ATTEMPTS = 5
_JWKS_ORDER = {KeyState.ACTIVE: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    keys: tuple[SigningKey, ...]
    signers: Mapping[str, CompactSigner]  # alg -> signer with that alg's active key
    verifiers: Mapping[str, tuple[Alg, AsymmetricKey]]  # kid -> (alg, public key)
    keyset: KeySet
    jwks_bytes: bytes


_EMPTY = _Snapshot(keys=(), signers={}, verifiers={}, keyset=KeySet([]), jwks_bytes=b'{"keys":[]}')


class KeyRing:
    """Signing keys of this provider, backed by a KeyStore and decrypted with a KeyEncryptor.

    Construction does no I/O; the first call that needs keys loads them (and raises if the
    store is unreachable or a key does not decrypt). Later reloads happen at most every
    `reload_interval` seconds; if one fails, the previous keys stay in use and the failure
    is logged. All methods are thread-safe.
    """

    def __init__(
        self,
        store: KeyStore,
        encryptor: KeyEncryptor,
        *,
        policy: RotationPolicy = RotationPolicy(),
        clock: Callable[[], datetime] = utcnow,
        reload_interval: float = 30.0,
    ) -> None:
        self._store = store
        self._encryptor = encryptor
        self._policy = policy
        self._clock = clock
        self._reload_interval = reload_interval
        self._snap = _EMPTY
        self._loaded = False
        self._due = float("-inf")
        self._lock = threading.Lock()
        # Decrypted keys by kid, kept across reloads so a reload only imports new keys.
        self._private: dict[str, AsymmetricKey] = {}
        self._public: dict[str, AsymmetricKey] = {}

    # -- administration ---------------------------------------------------------------------

    def ensure(self, algs: Iterable[str] = SUPPORTED_ALGS) -> None:
        """Make sure each algorithm has one active and one next key, creating them if needed.

        Applies the unforced rotation plan, so it also rotates an active key older than
        `policy.retire_after` and removes retired keys past `policy.remove_after`. Idempotent,
        and safe when several processes call it at once (the store rejects the loser's writes,
        which then re-reads and finds nothing left to do).
        """
        wanted = [check_alg(a) for a in algs]
        self._write(lambda keys, now: [plan_rotation(keys, a, now, self._policy) for a in wanted])

    def rotate(self, alg: str, *, force: bool = True) -> RotationPlan:
        """Rotate `alg`'s keys (next → active, active → retired, new next) and return the plan
        that was applied. With `force=False` only rotate if the policy says it is time."""
        checked = check_alg(alg)
        plans = self._write(lambda keys, now: [plan_rotation(keys, checked, now, self._policy, force)])
        return plans[0] if plans else RotationPlan(alg=checked)

    def keys(self) -> list[SigningKey]:
        """All non-removed keys, oldest first."""
        self.maybe_reload()
        return list(self._snap.keys)

    # -- hot paths --------------------------------------------------------------------------

    def sign(self, claims: Mapping[str, object], *, alg: str = "ES256", typ: str = "JWT") -> str:
        """A compact JWS of `claims` with header {alg, kid, typ}, signed by `alg`'s active key.

        Raise UnsupportedAlgorithm for an unknown `alg`, NoActiveKey if it has no active key.
        """
        self.maybe_reload()
        signer = self._snap.signers.get(alg)
        if signer is None:
            raise NoActiveKey(f"no active {check_alg(alg)} signing key")
        return signer.sign(claims, typ)

    def jwks(self) -> dict[str, Any]:
        """{"keys": [...]} with the public JWKs of the active, next and retired keys (a copy)."""
        return json.loads(self.jwks_bytes())  # type: ignore[no-any-return]

    def jwks_bytes(self) -> bytes:
        """`jwks()` serialized as compact JSON; the same bytes object until the keys change."""
        self.maybe_reload()
        return self._snap.jwks_bytes

    def public_keyset(self) -> KeySet:
        """The published keys as a joserfc KeySet. Shared between callers: do not mutate."""
        self.maybe_reload()
        return self._snap.keyset

    def verify(
        self, token: str, *, algs: Sequence[str] = SUPPORTED_ALGS
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return (header, claims) if `token` is a compact JWS signed by one of our published
        keys, named by the header's kid, with an alg in `algs` that matches that key.

        Raise InvalidToken otherwise. Claims such as exp, aud and iss are not checked here.
        """
        self.maybe_reload()
        header = _peek_header(token)
        kid, alg = header.get("kid"), header.get("alg")
        verifier = self._snap.verifiers.get(kid) if isinstance(kid, str) else None
        if verifier is None:
            raise InvalidToken("unknown or missing kid")
        key_alg, key = verifier
        if alg != key_alg or alg not in algs:
            raise InvalidToken(f"alg {alg!r} not accepted for this key")
        try:
            decoded = jwt.decode(token, key, algorithms=[key_alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(f"invalid token: {exc}") from None
        if not isinstance(decoded.claims, dict):
            raise InvalidToken("claims are not a JSON object")
        return dict(decoded.header), dict(decoded.claims)

    def reload_due(self) -> bool:
        """True if the next hot-path call will read the store (callers on an event loop use this
        to make that call from a thread)."""
        return time.monotonic() >= self._due

    def maybe_reload(self) -> None:
        """Re-read the store if `reload_interval` seconds passed since the last load, so keys
        rotated by another process (the CLI) are picked up. Costs one clock read when not due."""
        if time.monotonic() < self._due:
            return
        if not self._loaded:
            with self._lock:
                if not self._loaded:
                    self._reload_locked()
            return
        # Other threads keep serving the current snapshot while one thread reloads.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() >= self._due:
                try:
                    self._reload_locked()
                except KeysError as exc:
                    # Keep serving the keys we have: a database blip must not stop sign-ins. One
                    # line per attempt, no traceback: an outage must not flood the log.
                    log.error("reloading signing keys failed; keeping the previous keys: %s", exc)
                    self._due = time.monotonic() + self._reload_interval
        finally:
            self._lock.release()

    def reload(self) -> None:
        """Re-read the store now."""
        with self._lock:
            self._reload_locked()

    # -- internals --------------------------------------------------------------------------

    def _write(self, plan: Callable[[list[SigningKey], datetime], list[RotationPlan]]) -> list[RotationPlan]:
        for _ in range(_MAX_ATTEMPTS):
            keys = [s.key for s in self._store.list_keys()]
            now = self._clock()
            plans = [p for p in plan(keys, now) if not p.is_empty]
            if not plans:
                break
            transitions = [t for p in plans for t in plan_transitions(keys, p)]
            new = [self._generate(p.alg, KeyState.ACTIVE, now) for p in plans if p.create_active]
            new += [self._generate(p.alg, KeyState.NEXT, now) for p in plans if p.create_next]
            try:
                self._store.apply(transitions, new, now)
            except KeyStoreConflict:
                log.info("signing keys changed concurrently; re-reading")
                continue
            break
        else:
            raise KeyStoreConflict("signing keys kept changing concurrently; try again")
        self.reload()
        return plans

    def _generate(self, alg: str, state: KeyState, now: datetime) -> StoredKey:
        key: AsymmetricKey = ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
        kid = key.thumbprint()
        pkcs8 = key.private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())  # type: ignore[union-attr]
        public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
        signing_key = SigningKey(
            kid=kid,
            alg=check_alg(alg),
            state=state,
            public_jwk=public,
            created_at=now,
            activated_at=now if state is KeyState.ACTIVE else None,
        )
        return StoredKey(signing_key, self._encryptor.encrypt(pkcs8, kid.encode()))

    def _reload_locked(self) -> None:
        stored = [s for s in self._store.list_keys() if s.key.published]
        private: dict[str, AsymmetricKey] = {}
        signers: dict[str, CompactSigner] = {}
        for alg in SUPPORTED_ALGS:
            actives = [s for s in stored if s.key.alg == alg and s.key.state is KeyState.ACTIVE]
            if not actives:
                continue
            current = max(actives, key=lambda s: (s.key.activated_at or s.key.created_at, s.key.kid))
            kid = current.key.kid
            private[kid] = self._private.get(kid) or self._import_private(current)
            signers[alg] = CompactSigner(kid, alg, private[kid].private_key)  # type: ignore[arg-type]
        public: dict[str, AsymmetricKey] = {}
        for s in stored:
            public[s.key.kid] = self._public.get(s.key.kid) or _import_public(s.key)
        ordered = sorted(stored, key=lambda s: (_JWKS_ORDER[s.key.state], s.key.alg, s.key.created_at))
        # Publish what joserfc exports as public, not the stored dict, so a private member
        # that somehow reached the row can never be served.
        jwks = {"keys": [public[s.key.kid].as_dict(private=False) for s in ordered]}
        self._snap = _Snapshot(
            keys=tuple(s.key for s in stored),
            signers=signers,
            verifiers={s.key.kid: (s.key.alg, public[s.key.kid]) for s in stored},
            keyset=KeySet([public[s.key.kid] for s in ordered]),
            jwks_bytes=json.dumps(jwks, separators=(",", ":")).encode(),
        )
        self._private, self._public = private, public
        self._loaded = True
        self._due = time.monotonic() + self._reload_interval

    def _import_private(self, stored: StoredKey) -> AsymmetricKey:
        key = stored.key
        der = self._encryptor.decrypt(stored.encrypted_private_key, key.kid.encode())
        params = {"kid": key.kid, "alg": key.alg, "use": "sig"}
        native = load_der_private_key(der, password=None)
        imported: AsymmetricKey = (
            ECKey.import_key(native, params) if key.alg == "ES256" else RSAKey.import_key(native, params)  # type: ignore[arg-type]
        )
        # kid is the RFC 7638 thumbprint: this catches a private half that does not belong to
        # the published public key, which would otherwise sign tokens nobody can verify.
        if imported.thumbprint() != key.kid:
            raise KeyDecryptionError(f"private key does not match key {key.kid}")
        return imported


def _import_public(key: SigningKey) -> AsymmetricKey:
    params = {"kid": key.kid, "alg": key.alg, "use": "sig"}
    members = {k: v for k, v in key.public_jwk.items() if k in ("kty", "crv", "x", "y", "n", "e")}
    if key.alg == "ES256":
        return ECKey.import_key(members, params)
    return RSAKey.import_key(members, params)


def _peek_header(token: object) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise InvalidToken("not a compact JWS")
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):  # Recursion: deeply nested JSON
        raise InvalidToken("malformed header") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed header")
    return header
