"""DPoP proofs (RFC 9449): checked at the token endpoint, userinfo and introspection.

https://www.rfc-editor.org/rfc/rfc9449 — a proof is a JWT the client signs with a key of its own,
for one HTTP request; tokens issued on a valid proof are bound to that key by its RFC 7638
thumbprint (`cnf.jkt`, §6.1), and presenting them later needs a fresh proof with the same key.
`DpopVerifier.check` applies every rule of §4.3, in one place, for every endpoint.

What is bound (§5), and why:

- Every access token issued on a valid proof carries `cnf.jkt` and is answered with
  `token_type: DPoP`; a client registered with `dpop_bound_access_tokens` (every FAPI 2.0 client
  has it) gets no token without a proof (§5.2).
- Refresh tokens issued to public clients are bound to the key of the proof they were issued on
  (§5: "MUST be bound"), and refreshing them needs a proof with that same key; the binding is kept
  in the refresh token's `auth` (`dpop_jkt`) and passed on to each rotated successor. Refresh tokens
  of confidential clients are not bound (§5: they are already sender-constrained by client
  authentication); the access tokens of each refresh are bound to the key of that refresh's proof,
  so a confidential client may move to a new key at refresh (§5 allows it).
- `dpop_jkt` at the authorization endpoint (§10), or a proof sent to `/par` (§10.1), binds the
  code: the token request must then carry a proof with that key.
- A token exchange (RFC 8693) with a proof binds the new token to its key; a DPoP-bound subject
  token is exchanged only with a proof by its own key, never for a bearer token.

Refusals: a missing, repeated, malformed or failing proof is `invalid_dpop_proof` (§5, §7.1),
400 at the token endpoint and 401 with a `DPoP` challenge at resource endpoints; a proof without a
current nonce, when nonces are required, is `use_dpop_nonce` with a fresh `DPoP-Nonce` (§8, §9).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey
from joserfc.jws import JWSRegistry

from clients.models import Client
from idp.errors import InvalidDpopProof, UseDpopNonce
from idp.storage.keys import DPOP_JTI
from idp.storage.store import Store

# §4.2: asymmetric algorithms only; the ones FAPI 2.0 (§5.4.1) allows.
ALGORITHMS: tuple[str, ...] = ("ES256", "PS256")
HEADER = "dpop"  # the request header (§4.1); HTTP header names are case-insensitive
NONCE_HEADER = "DPoP-Nonce"  # §8.1
SKEW = 10  # seconds a client's clock may run ahead of ours (§11.1)
MAX_PROOF = 8192  # characters: an RSA-4096 key and the claims fit in well under 2 KiB
_MAX_JTI = 256
_MIN_RSA_BITS = 2048
# joserfc's default header limit (512 bytes) is below an RSA key's jwk; the whole proof is bounded
# by MAX_PROOF before it gets here.
_JWS = JWSRegistry(algorithms=list(ALGORITHMS))
_JWS.max_header_length = MAX_PROOF
# Members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def token_hash(access_token: str) -> str:
    """`ath` (§4.2): base64url of the SHA-256 of the access token's ASCII bytes, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


def requires_dpop(client: Client) -> bool:
    """§5.2 `dpop_bound_access_tokens`; the fapi2 profile (`clients.models`) always has it, asked
    here too so no registration path can leave a FAPI 2.0 client with bearer tokens."""
    return client.dpop_bound_access_tokens or client.is_fapi2


def token_binding(proof: Proof | None, client: Client, bound_to: str | None = None) -> str | None:
    """The DPoP key the tokens of a token request are bound to (its proof's), or None for bearer
    tokens. Refused: no proof from a client that must use DPoP (§5.2), and no proof or a proof with
    another key where the grant is bound to `bound_to` (a code issued with `dpop_jkt`, §10; a public
    client's refresh token, §5)."""
    if bound_to is not None and (proof is None or not hmac.compare_digest(proof.jkt, bound_to)):
        raise InvalidDpopProof("This grant is bound to a DPoP key: send a DPoP proof made with that key.")
    if proof is None and requires_dpop(client):
        raise InvalidDpopProof("This client gets only DPoP-bound tokens: send a DPoP proof with the request.")
    return proof.jkt if proof is not None else None


@dataclass(frozen=True, slots=True)
class Proof:
    """A proof that passed every check: the key's thumbprint, and the claims it made."""

    jkt: str
    claims: dict[str, object]


def normalized_uri(uri: str) -> str | None:
    """A URI without query and fragment, after RFC 3986 §6.2.2 syntax-based and §6.2.3 scheme-based
    normalisation (as §4.3 point 9 asks): scheme and host lower-cased, the default port dropped,
    percent-encodings of unreserved characters decoded and the others upper-cased, dot segments
    removed, an empty path made "/". None for anything that is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = _remove_dot_segments(_PERCENT.sub(_normalized_escape, parts.path))
    return f"{scheme}://{host}{path or '/'}"


_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normalized_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, for an absolute path."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments and segments[-1] in (".", ".."):
        out.append("")
    return "/" + "/".join(out) if segments else ""


class DpopVerifier:
    """Checks proofs (§4.3) and makes and checks server nonces (§8).

    Nonces are stateless: the time they were made and an HMAC over it, with a key every worker
    derives from the key-encryption key, so any worker accepts a nonce another one gave. Used
    proof ids (`jti`) are claimed in the ephemeral store, one key per key thumbprint and id, with
    SET-if-absent (`Store.add`), so of two workers given the same proof only one accepts it.

    Why the ephemeral store and not the database, although what protects people must survive its
    loss (docs/design.md): a proof is refused for its `iat` once `max_age` (+ skew) has passed, so
    its id protects for that minute only, unlike a revocation or a client assertion's id, which
    protect for as long as a token or assertion lives. Losing the store can at worst let a proof
    made in the last `max_age` seconds be used once more, for the very request it was made for
    (its method and URL; at resource endpoints its access token, through `ath`), by someone who
    already saw that request. Nothing outlives that window, and a database write per API call
    would cost far more than the window is worth.
    """

    def __init__(
        self, store: Store, *, nonce_key: bytes, max_age: int, require_nonce: bool, nonce_lifetime: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._nonce_key = nonce_key
        self.max_age = max_age
        self.require_nonce = require_nonce
        self._nonce_lifetime = nonce_lifetime
        self._clock = clock

    # -- nonces (§8) ------------------------------------------------------------------------------
    def nonce(self) -> str:
        """A fresh nonce: when it was made, and a MAC over that."""
        made = struct.pack(">Q", int(self._clock()))
        return base64.urlsafe_b64encode(made + self._mac(made)).rstrip(b"=").decode()

    def _mac(self, made: bytes) -> bytes:
        return hmac.new(self._nonce_key, b"dpop-nonce:" + made, hashlib.sha256).digest()[:16]

    def nonce_is_current(self, nonce: object) -> bool:
        if not isinstance(nonce, str) or len(nonce) != 32:
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce + "==")
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 24 or not hmac.compare_digest(raw[8:], self._mac(raw[:8])):
            return False
        age = self._clock() - struct.unpack(">Q", raw[:8])[0]
        return -SKEW <= age <= self._nonce_lifetime

    def fresh_nonce_header(self) -> dict[str, str]:
        """The `DPoP-Nonce` to send with a response (§8.2), when nonces are required; else none."""
        return {NONCE_HEADER: self.nonce()} if self.require_nonce else {}

    # -- proofs (§4.3) ----------------------------------------------------------------------------
    def check(
        self, values: Sequence[str], *, method: str, uri: str, access_token: str | None = None,
        jkt: str | None = None,
    ) -> Proof:
        """The one proof in `values` (every `DPoP` header of the request), checked for a request of
        `method` to `uri`; with `access_token`, also its `ath` and, with `jkt`, that the proof's
        key is the one the token is bound to (§4.3 point 12). Raises `InvalidDpopProof` or
        `UseDpopNonce`; claims the proof's `jti` last, so only a proof that passed is remembered."""
        proof = self._verified(self._one(values))
        claims = proof.claims
        if claims.get("htm") != method:
            raise InvalidDpopProof(f"The proof's htm must be {method}, the method of this request.")
        htu = claims.get("htu")
        if not isinstance(htu, str) or len(htu) > 2048 or normalized_uri(htu) != normalized_uri(uri):
            raise InvalidDpopProof(f"The proof's htu must be {uri}, the URL of this request.")
        if self.require_nonce and not self.nonce_is_current(claims.get("nonce")):
            raise UseDpopNonce(self.nonce())
        self._check_age(claims["iat"])  # type: ignore[arg-type]
        if access_token is not None:
            self._check_token(proof, access_token, jkt)
        self._claim_jti(proof)
        return proof

    def check_forwarded(self, values: Sequence[str], *, access_token: str, jkt: str) -> Proof:
        """A proof a resource server forwards with an introspection request: made for the resource
        server's request, whose method and URL only it knows (it checks `htm`, `htu`, and `jti`
        within its own window); here the signature, key, `iat`, `ath`, and that the key is the one
        the token is bound to."""
        proof = self._verified(self._one(values))
        self._check_age(proof.claims["iat"])  # type: ignore[arg-type]
        self._check_token(proof, access_token, jkt)
        return proof

    def _one(self, values: Sequence[str]) -> str:
        if len(values) != 1:
            raise InvalidDpopProof("Send exactly one DPoP header." if values else "A DPoP proof is required.")
        value = values[0].strip()
        if not value or len(value) > MAX_PROOF or value.count(".") != 2:
            raise InvalidDpopProof("The DPoP header must hold one proof, a signed JWT.")
        return value

    def _verified(self, value: str) -> Proof:
        """Header (typ, alg, jwk), signature and the claims every proof has (§4.2, §4.3 points 2-7)."""
        header = _json_part(value.split(".", 1)[0])
        if header.get("typ") != "dpop+jwt":
            raise InvalidDpopProof("The proof's typ must be dpop+jwt.")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidDpopProof(f"The proof must be signed with one of: {' '.join(ALGORITHMS)}.")
        key = _public_key(header.get("jwk"), str(alg))
        try:
            payload = jws.deserialize_compact(value, key, registry=_JWS).payload
        except (JoseError, ValueError, TypeError):
            raise InvalidDpopProof("The proof's signature does not verify with its jwk.") from None
        claims = _json_object(payload)
        jti, iat = claims.get("jti"), claims.get("iat")
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI:
            raise InvalidDpopProof(f"The proof must carry a jti of 1 to {_MAX_JTI} characters.")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise InvalidDpopProof("The proof must carry iat, the time it was made, in seconds.")
        if not isinstance(claims.get("htm"), str) or not isinstance(claims.get("htu"), str):
            raise InvalidDpopProof("The proof must carry htm and htu, the method and URL of the request.")
        return Proof(jkt=key.thumbprint(), claims=claims)

    def _check_age(self, iat: float) -> None:
        # §4.3 point 11, §11.1: made recently, and not (beyond a small skew) in the future.
        age = self._clock() - iat
        if age > self.max_age or age < -SKEW:
            raise InvalidDpopProof(f"The proof's iat must be within {self.max_age} seconds of now; make a new one.")

    @staticmethod
    def _check_token(proof: Proof, access_token: str, jkt: str | None) -> None:
        ath = proof.claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, token_hash(access_token)):
            raise InvalidDpopProof("The proof's ath must be the SHA-256 hash of the access token sent with it.")
        if jkt is not None and not hmac.compare_digest(proof.jkt, jkt):
            raise InvalidDpopProof("The proof is signed with a key other than the one the token is bound to.")

    def _claim_jti(self, proof: Proof) -> None:
        # §11.1: each proof once. Remembered as long as its iat can be accepted (max_age after it,
        # an iat up to SKEW ahead of our clock), keyed by the key's thumbprint and the id (hashed:
        # one opaque key, whatever characters the client put in its jti).
        digest = hashlib.sha256(f"{proof.jkt}:{proof.claims['jti']}".encode()).hexdigest()
        if not self._store.add(DPOP_JTI + digest, b"1", self.max_age + 2 * SKEW):
            raise InvalidDpopProof("This DPoP proof was already used; make a new one for each request.")


def _json_part(part: str) -> dict[str, object]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidDpopProof("The DPoP proof is not a well-formed JWT.") from None
    return _json_object(raw)


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        value = orjson.loads(raw)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        raise InvalidDpopProof("The DPoP proof's header and claims must be JSON objects.") from None
    if not isinstance(value, dict):
        raise InvalidDpopProof("The DPoP proof's header and claims must be JSON objects.")
    return value


def _public_key(jwk: object, alg: str) -> ECKey | RSAKey:
    """§4.3 point 5-7: a public key (never private or symmetric) of the kind `alg` uses."""
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("The proof's header must carry its public key as jwk.")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDpopProof("The proof's jwk must be a public key, without private or symmetric parts.")
    n = jwk.get("n")
    if jwk.get("kty") == "RSA" and isinstance(n, str) and len(n.rstrip("=")) < _MIN_RSA_BITS // 6:
        raise InvalidDpopProof(f"The proof's RSA key must have at least {_MIN_RSA_BITS} bits.")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidDpopProof("The proof's jwk is not a usable key.") from None
    if alg == "ES256" and isinstance(key, ECKey) and key.curve_name == "P-256":
        return key
    if alg == "PS256" and isinstance(key, RSAKey) and key.raw_value.key_size >= _MIN_RSA_BITS:
        return key
    raise InvalidDpopProof(f"The proof's jwk does not fit {alg} (ES256: an EC P-256 key; PS256: RSA of "
                           f"{_MIN_RSA_BITS} bits or more).")
