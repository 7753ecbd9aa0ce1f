"""WebAuthn passkeys (amr `hwk`/`swk` + `user`): phishing-resistant and, with user verification, multi-factor.

Registration: https://www.w3.org/TR/webauthn-3/#sctn-registering-a-new-credential
Authentication: https://www.w3.org/TR/webauthn-3/#sctn-verifying-assertion

Every ceremony's challenge lives in the ephemeral store and is taken (deleted) before the response
is checked, so a response can be presented only once, whether it passes or fails. User
verification is always required: without it a passkey is a single possession factor, and the
level policy counts it as multi-factor.

The credentials' table and its store are in `passkey_sql`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from levels.authenticators.base import Challenge, EnrolmentFailed, Step
from levels.clock import Clock, utcnow
from levels.errors import LevelsError
from levels.people import Person
from levels.policy import FactorKind

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
MAX_NAME_LENGTH = 100
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)
# WebAuthn caps credential ids at 1023 bytes, which is 1364 characters of unpadded base64url.
MAX_CREDENTIAL_ID_LENGTH = 1364


class PasskeyError(LevelsError):
    """A ceremony failed; `reason` says why, for logs and audit (it holds no secret)."""

    # A plain attribute rather than a frozen dataclass: the interpreter assigns `__traceback__`.
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PasskeyExists(LevelsError):
    """A credential with this id is already stored."""


@dataclass(frozen=True, slots=True)
class PasskeyCredential:
    credential_id: str  # base64url, unpadded, as browsers spell `PublicKeyCredential.id`
    person_id: str
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    backed_up: bool
    name: str | None
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class PasskeyAssertion:
    """A verified passkey sign-in: the person, the credential used, and when."""

    person_id: str
    credential_id: str
    user_verified: bool
    at: datetime
    # A backed-up (synced) passkey's private key leaves the device, so it is `swk` rather than `hwk`.
    backed_up: bool


class ChallengeStore(Protocol):
    """The part of the ephemeral store ceremonies need (`idp.storage.store.Store` has all of it)."""

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store value under key for ttl seconds, replacing any previous value."""
        ...

    def take(self, key: str) -> bytes | None:
        """Return the value and delete it atomically: of concurrent callers only one gets it."""
        ...


class PasskeyStore(Protocol):
    """Durable passkey credentials. Stores values as given; verifies nothing."""

    def add(self, credential: PasskeyCredential) -> None:
        """Store a new credential; raise `PasskeyExists` if its id is already stored (for anyone)."""
        ...

    def get(self, credential_id: str) -> PasskeyCredential | None:
        """Return the credential with this id, or None."""
        ...

    def for_person(self, person_id: str) -> list[PasskeyCredential]:
        """The person's credentials, oldest first; empty if none (or no such person)."""
        ...

    def record_use(self, credential_id: str, sign_count: int, backed_up: bool, at: datetime) -> bool:
        """Set the counter, backup flag and last use, atomically and only if the counter moves forward
        (greater than the stored one, or both zero for authenticators without a counter).
        Return False, changing nothing, if it does not or the credential is gone."""
        ...

    def remove(self, person_id: str, credential_id: str) -> bool:
        """Delete the credential if this person owns it; True if one was deleted."""
        ...


@dataclass(frozen=True, slots=True)
class _Challenge:
    value: bytes
    issued_at: datetime
    person_id: str | None

    def encode(self) -> bytes:
        return json.dumps({
            "c": bytes_to_base64url(self.value), "at": self.issued_at.timestamp(), "p": self.person_id,
        }).encode()

    @classmethod
    def decode(cls, raw: bytes) -> _Challenge:
        data = json.loads(raw)
        return cls(base64url_to_bytes(data["c"]), datetime.fromtimestamp(data["at"], UTC), data["p"])


class Passkeys:
    """Registration and sign-in ceremonies for one relying party (`rp_id`, served from `origin`)."""

    def __init__(
        self,
        store: ChallengeStore,
        credentials: PasskeyStore,
        *,
        rp_id: str,
        rp_name: str,
        origin: str,
        challenge_ttl: int = 300,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origin = origin
        self._ttl = challenge_ttl
        self._clock = clock

    def registration_options(self, person_id: str, user_name: str, display_name: str) -> str:
        """Options JSON for `navigator.credentials.create`; replaces any registration in progress."""
        challenge = _Challenge(secrets.token_bytes(32), self._clock(), person_id)
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_id=person_id.encode(),
            user_name=user_name,
            user_display_name=display_name,
            challenge=challenge.value,
            # The browser gives up when the challenge does, rather than collect a response we refuse.
            timeout=self._ttl * 1000,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(c) for c in self._credentials.for_person(person_id)],
            supported_pub_key_algs=ALGORITHMS,
        )
        self._store.set(_register_key(person_id), challenge.encode(), self._ttl)
        return options_to_json(options)

    def register(self, person_id: str, credential_json: str, name: str | None = None) -> PasskeyCredential:
        """Verify the response to this person's registration options and store the new credential.

        Raises `PasskeyError` if no registration is in progress or it expired, or the response does
        not verify, or the credential is already registered; `ValueError` for an unusable name.
        """
        if name is not None and len(name) > MAX_NAME_LENGTH:
            raise ValueError(f"name must be at most {MAX_NAME_LENGTH} characters")
        challenge = self._take(_register_key(person_id))
        try:
            parsed = parse_registration_credential_json(credential_json)
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge.value,
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
                require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except (WebAuthnException, ValueError) as exc:
            raise PasskeyError(f"registration response refused: {exc}") from None
        credential_id = bytes_to_base64url(verified.credential_id)
        if len(credential_id) > MAX_CREDENTIAL_ID_LENGTH:
            raise PasskeyError("credential id too long")
        credential = PasskeyCredential(
            credential_id=credential_id,
            person_id=person_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=tuple(t.value for t in parsed.response.transports or ()),
            aaguid=verified.aaguid,
            backed_up=verified.credential_backed_up,
            name=name,
            created_at=self._clock(),
            last_used_at=None,
        )
        try:
            self._credentials.add(credential)
        except PasskeyExists:
            raise PasskeyError("credential already registered") from None
        return credential

    def authentication_options(self, person_id: str | None) -> tuple[str, str]:
        """Options JSON for `navigator.credentials.get` and the handle that names its challenge.

        With a person, only their credentials are allowed; without one the browser offers any
        discoverable credential for this site (usernameless sign-in).
        """
        challenge = _Challenge(secrets.token_bytes(32), self._clock(), person_id)
        allowed = self._credentials.for_person(person_id) if person_id is not None else []
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge.value,
            timeout=self._ttl * 1000,
            allow_credentials=[_descriptor(c) for c in allowed],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        handle = secrets.token_urlsafe(24)
        self._store.set(_authenticate_key(handle), challenge.encode(), self._ttl)
        return options_to_json(options), handle

    def authenticate(self, handle: str, credential_json: str, person_id: str | None = None) -> PasskeyAssertion:
        """Verify an assertion against the challenge named by `handle`; the challenge is used up.

        If `person_id` is given, or the options were made for a person, the credential must be
        theirs. Raises `PasskeyError` for an unknown or expired challenge, an unknown credential,
        someone else's credential, a response that does not verify, or a counter that did not move
        forward (a sign the authenticator was cloned).
        """
        challenge = self._take(_authenticate_key(handle))
        if person_id is not None and challenge.person_id is not None and person_id != challenge.person_id:
            raise PasskeyError("challenge was issued for another person")
        owner = person_id if person_id is not None else challenge.person_id
        try:
            parsed = parse_authentication_credential_json(credential_json)
        except (WebAuthnException, ValueError) as exc:
            raise PasskeyError(f"authentication response refused: {exc}") from None
        credential = self._credentials.get(bytes_to_base64url(parsed.raw_id))
        if credential is None:
            raise PasskeyError("unknown credential")
        if owner is not None and credential.person_id != owner:
            raise PasskeyError("credential belongs to another person")
        user_handle = parsed.response.user_handle
        if user_handle and user_handle != credential.person_id.encode():
            raise PasskeyError("user handle does not match the credential's owner")
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge.value,
                expected_rp_id=self._rp_id,
                expected_origin=self._origin,
                credential_public_key=credential.public_key,
                # Zero turns off the library's own counter check, so ours (after the signature is
                # known to be good) can name the failure.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError) as exc:
            raise PasskeyError(f"authentication response refused: {exc}") from None
        at = self._clock()
        new_count = verified.new_sign_count
        moved_forward = new_count > credential.sign_count or new_count == credential.sign_count == 0
        if not moved_forward or not self._credentials.record_use(
            credential.credential_id, new_count, verified.credential_backed_up, at
        ):
            raise PasskeyError("cloned authenticator")
        return PasskeyAssertion(
            person_id=credential.person_id,
            credential_id=credential.credential_id,
            user_verified=verified.user_verified,
            at=at,
            backed_up=verified.credential_backed_up,
        )

    def remove(self, person_id: str, credential_id: str) -> bool:
        """Delete one of the person's credentials; False if they have none with this id."""
        return self._credentials.remove(person_id, credential_id)

    def list(self, person_id: str) -> list[PasskeyCredential]:
        """The person's credentials, oldest first."""
        return self._credentials.for_person(person_id)

    def _take(self, key: str) -> _Challenge:
        raw = self._store.take(key)
        if raw is None:
            raise PasskeyError("no such challenge, or it was used or expired")
        challenge = _Challenge.decode(raw)
        # The store drops the key at its TTL; checking the time again keeps expiry exact under an
        # injected clock and whatever clock the store's backend keeps.
        if self._clock() - challenge.issued_at > timedelta(seconds=self._ttl):
            raise PasskeyError("challenge expired")
        return challenge


# The store keys of pending challenges: one per person enrolling, one per sign-in attempt.
KEY_PREFIX = "passkey:"


def _register_key(person_id: str) -> str:
    return f"{KEY_PREFIX}register:{person_id}"


def _authenticate_key(handle: str) -> str:
    return f"{KEY_PREFIX}authenticate:{handle}"


def _descriptor(credential: PasskeyCredential) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in credential.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential.credential_id), transports=transports or None)


class PasskeyAuthenticator:
    """A passkey as a step-up factor: WebAuthn options for the person's own credentials, then the
    assertion; set up from the account page (registration options on every visit)."""

    method = "passkey"
    kind = FactorKind.PHISHING_RESISTANT
    amr = ("hwk", "user")
    preference = 0  # the strongest and quickest

    def __init__(self, passkeys: Passkeys) -> None:
        self._passkeys = passkeys

    def available(self, person: Person) -> bool:
        return bool(self._passkeys.list(person.id))

    def challenge(self, step: Step, *, again: bool = False) -> Challenge:
        options, handle = self._passkeys.authentication_options(step.person.id)
        return Challenge({"options": options, "handle": handle})

    def verify(self, step: Step, form: Mapping[str, str]) -> bool:
        try:
            self._passkeys.authenticate(form.get("handle", ""), form.get("credential", ""), step.person.id)
        except PasskeyError:
            return False
        return True

    def enrolled(self, person: Person) -> Mapping[str, object]:
        return {"passkeys": self._passkeys.list(person.id)}

    def begin_enrolment(self, person: Person, ticket: str) -> Mapping[str, object]:
        name = f"{person.given_name} {person.family_name}".strip()
        return {"options": self._passkeys.registration_options(person.id, person.national_code, name)}

    def finish_enrolment(self, person: Person, ticket: str, form: Mapping[str, str]) -> Mapping[str, object]:
        try:
            credential = self._passkeys.register(person.id, form.get("credential", ""), None)
        except PasskeyError:
            raise EnrolmentFailed("The passkey could not be added.") from None
        return {"added": credential.credential_id}

    def remove(self, person: Person, credential_id: str | None = None) -> bool:
        if credential_id is None:
            return False
        return self._passkeys.remove(person.id, credential_id)
