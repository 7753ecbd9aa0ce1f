"""Passkey ceremonies against a software authenticator: real attestation and assertion bytes,
made here with an EC P-256 key, checked by py_webauthn, stored in SQLite/PostgreSQL and Memory/Redis."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from levels.authenticators.passkey import (
    PasskeyAssertion,
    PasskeyCredential,
    PasskeyError,
    Passkeys,
    PasskeyStore,
)
from levels.authenticators.passkey_sql import SqlPasskeyStore
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, new_person

RP_ID = "idp.example"
ORIGIN = "https://idp.example"
T0 = datetime(2025, 3, 21, 9, 0, tzinfo=UTC)

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


@dataclass
class SoftAuthenticator:
    """A CTAP2-like platform authenticator in software: one P-256 key per credential, "none" attestation."""

    rp_id: str = RP_ID
    origin: str = ORIGIN
    counter: int = 0
    keys: dict[bytes, tuple[ec.EllipticCurvePrivateKey, bytes]] = field(default_factory=dict)

    def _client_data(self, kind: str, options: dict[str, object]) -> bytes:
        return json.dumps({
            "type": kind, "challenge": options["challenge"], "origin": self.origin, "crossOrigin": False,
        }).encode()

    def _auth_data(self, flags: int, attested: bytes = b"") -> bytes:
        rp_id_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.counter) + attested

    def create(self, options_json: str, *, flags: int = UP | UV | AT) -> str:
        options = json.loads(options_json)
        key = ec.generate_private_key(ec.SECP256R1())
        numbers = key.public_key().public_numbers()
        # COSE_Key: kty EC2, alg ES256, crv P-256, x, y.
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        cose_key = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})
        credential_id = secrets.token_bytes(16)
        self.keys[credential_id] = (key, base64url_to_bytes(options["user"]["id"]))
        attested = bytes(16) + struct.pack(">H", len(credential_id)) + credential_id + cose_key
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self._auth_data(flags, attested)})
        return json.dumps({
            "id": b64(credential_id), "rawId": b64(credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(self._client_data("webauthn.create", options)),
                "attestationObject": b64(attestation),
                "transports": ["internal", "hybrid"],
            },
        })

    def get(self, options_json: str, credential_id: bytes, *, flags: int = UP | UV, counter_step: int = 1) -> str:
        options = json.loads(options_json)
        self.counter += counter_step
        key, user_handle = self.keys[credential_id]
        auth_data = self._auth_data(flags)
        client_data = self._client_data("webauthn.get", options)
        signature = key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64(credential_id), "rawId": b64(credential_id), "type": "public-key",
            "authenticatorAttachment": "platform", "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                "signature": b64(signature), "userHandle": b64(user_handle),
            },
        })


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def people(engine) -> tuple[str, str]:
    store = SqlPersonStore(engine)
    ids = []
    for digits in ("001234567", "987654321"):
        person = new_person(make_national_code(digits), "Sara", "Ahmadi", birthdate=date(1990, 3, 21), now=T0)
        store.add(person)
        ids.append(person.id)
    return ids[0], ids[1]


@pytest.fixture
def passkeys(engine, store, clock) -> Passkeys:
    return Passkeys(store, SqlPasskeyStore(engine), rp_id=RP_ID, rp_name="National IdP", origin=ORIGIN, clock=clock)


def enrol(passkeys: Passkeys, person_id: str, authenticator: SoftAuthenticator) -> PasskeyCredential:
    options = passkeys.registration_options(person_id, "0012345678", "Sara Ahmadi")
    return passkeys.register(person_id, authenticator.create(options), name="phone")


def test_sql_store_conforms_to_the_protocol(engine) -> None:
    store: PasskeyStore = SqlPasskeyStore(engine)
    assert store.get("missing") is None and store.for_person("nobody") == []


def test_registration_options_require_user_verification_and_offer_es256_rs256_eddsa(passkeys, people) -> None:
    options = json.loads(passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi"))
    assert options["rp"] == {"id": RP_ID, "name": "National IdP"}
    assert base64url_to_bytes(options["user"]["id"]) == people[0].encode()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert {p["alg"] for p in options["pubKeyCredParams"]} == {-7, -257, -8}
    assert options["excludeCredentials"] == []


def test_register_then_authenticate(passkeys, people, clock) -> None:
    person_id = people[0]
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, person_id, authenticator)
    assert credential.person_id == person_id and credential.name == "phone"
    assert credential.transports == ("internal", "hybrid")
    assert credential.aaguid == "00000000-0000-0000-0000-000000000000"
    assert credential.created_at == T0 and credential.last_used_at is None and not credential.backed_up
    assert passkeys.list(person_id) == [credential]

    clock.now = T0 + timedelta(minutes=1)
    options, handle = passkeys.authentication_options(person_id)
    assert json.loads(options)["userVerification"] == "required"
    assert [c["id"] for c in json.loads(options)["allowCredentials"]] == [credential.credential_id]
    raw_id = base64url_to_bytes(credential.credential_id)
    assertion = passkeys.authenticate(handle, authenticator.get(options, raw_id), person_id)
    assert assertion == PasskeyAssertion(person_id, credential.credential_id, True, clock.now, False)
    [stored] = passkeys.list(person_id)
    assert stored.sign_count == 1 and stored.last_used_at == clock.now


def test_usernameless_sign_in_finds_the_owner(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[1], authenticator)
    options, handle = passkeys.authentication_options(None)
    assert json.loads(options)["allowCredentials"] == []
    assertion = passkeys.authenticate(handle, authenticator.get(options, base64url_to_bytes(credential.credential_id)))
    assert assertion.person_id == people[1]


def test_wrong_origin_is_refused(passkeys, people) -> None:
    phishing = SoftAuthenticator(origin="https://idp.example.evil")
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    with pytest.raises(PasskeyError, match="origin"):
        passkeys.register(people[0], phishing.create(options))

    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    authenticator.origin = "https://idp.example.evil"
    options, handle = passkeys.authentication_options(people[0])
    with pytest.raises(PasskeyError, match="origin"):
        passkeys.authenticate(handle, authenticator.get(options, base64url_to_bytes(credential.credential_id)))


def test_wrong_rp_id_is_refused(passkeys, people) -> None:
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    with pytest.raises(PasskeyError, match="RP ID"):
        passkeys.register(people[0], SoftAuthenticator(rp_id="evil.example").create(options))


def test_registration_without_user_verification_is_refused(passkeys, people) -> None:
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    with pytest.raises(PasskeyError, match="verif"):
        passkeys.register(people[0], SoftAuthenticator().create(options, flags=UP | AT))
    assert passkeys.list(people[0]) == []


def test_assertion_without_user_verification_is_refused(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    options, handle = passkeys.authentication_options(people[0])
    raw_id = base64url_to_bytes(credential.credential_id)
    with pytest.raises(PasskeyError, match="verif"):
        passkeys.authenticate(handle, authenticator.get(options, raw_id, flags=UP), people[0])


def test_a_challenge_is_used_once(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    response = authenticator.create(options)
    credential = passkeys.register(people[0], response)
    with pytest.raises(PasskeyError, match="no such challenge"):
        passkeys.register(people[0], response)

    options, handle = passkeys.authentication_options(people[0])
    assertion = authenticator.get(options, base64url_to_bytes(credential.credential_id))
    passkeys.authenticate(handle, assertion, people[0])
    with pytest.raises(PasskeyError, match="no such challenge"):
        passkeys.authenticate(handle, assertion, people[0])


def test_a_failed_attempt_uses_up_the_challenge(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    options, handle = passkeys.authentication_options(people[0])
    raw_id = base64url_to_bytes(credential.credential_id)
    with pytest.raises(PasskeyError):
        passkeys.authenticate(handle, authenticator.get(options, raw_id, flags=UP), people[0])
    with pytest.raises(PasskeyError, match="no such challenge"):
        passkeys.authenticate(handle, authenticator.get(options, raw_id), people[0])


def test_an_expired_challenge_is_refused(passkeys, people, clock) -> None:
    authenticator = SoftAuthenticator()
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    clock.now = T0 + timedelta(seconds=301)
    with pytest.raises(PasskeyError, match="expired"):
        passkeys.register(people[0], authenticator.create(options))

    clock.now = T0
    credential = enrol(passkeys, people[0], authenticator)
    options, handle = passkeys.authentication_options(people[0])
    clock.now = T0 + timedelta(seconds=301)
    with pytest.raises(PasskeyError, match="expired"):
        passkeys.authenticate(handle, authenticator.get(options, base64url_to_bytes(credential.credential_id)))


def test_someone_elses_credential_is_refused(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[1], authenticator)
    raw_id = base64url_to_bytes(credential.credential_id)

    options, handle = passkeys.authentication_options(None)
    with pytest.raises(PasskeyError, match="another person"):
        passkeys.authenticate(handle, authenticator.get(options, raw_id), people[0])

    options, handle = passkeys.authentication_options(people[0])
    with pytest.raises(PasskeyError, match="another person"):
        passkeys.authenticate(handle, authenticator.get(options, raw_id))


def test_a_user_handle_naming_someone_else_is_refused(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    raw_id = base64url_to_bytes(credential.credential_id)
    key, _ = authenticator.keys[raw_id]
    authenticator.keys[raw_id] = (key, people[1].encode())
    options, handle = passkeys.authentication_options(None)
    with pytest.raises(PasskeyError, match="user handle"):
        passkeys.authenticate(handle, authenticator.get(options, raw_id))


def test_a_counter_going_backwards_means_a_cloned_authenticator(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    raw_id = base64url_to_bytes(credential.credential_id)
    for _ in range(2):
        options, handle = passkeys.authentication_options(people[0])
        passkeys.authenticate(handle, authenticator.get(options, raw_id), people[0])
    assert passkeys.list(people[0])[0].sign_count == 2

    clone = SoftAuthenticator(counter=0, keys=dict(authenticator.keys))
    options, handle = passkeys.authentication_options(people[0])
    with pytest.raises(PasskeyError, match="cloned authenticator"):
        passkeys.authenticate(handle, clone.get(options, raw_id), people[0])
    options, handle = passkeys.authentication_options(people[0])
    with pytest.raises(PasskeyError, match="cloned authenticator"):
        passkeys.authenticate(handle, clone.get(options, raw_id), people[0])
    assert passkeys.list(people[0])[0].sign_count == 2


def test_authenticators_without_a_counter_keep_zero(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[0], authenticator)
    raw_id = base64url_to_bytes(credential.credential_id)
    for _ in range(2):
        options, handle = passkeys.authentication_options(people[0])
        passkeys.authenticate(handle, authenticator.get(options, raw_id, counter_step=0), people[0])
    assert passkeys.list(people[0])[0].sign_count == 0


def test_exclude_credentials_lists_existing_credentials(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    first = enrol(passkeys, people[0], authenticator)
    second = enrol(passkeys, people[0], authenticator)
    enrol(passkeys, people[1], SoftAuthenticator())
    options = json.loads(passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi"))
    excluded = options["excludeCredentials"]
    assert {c["id"] for c in excluded} == {first.credential_id, second.credential_id}
    assert all(c["type"] == "public-key" and c["transports"] == ["internal", "hybrid"] for c in excluded)


def test_a_credential_is_registered_once(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    response = authenticator.create(options)
    passkeys.register(people[0], response)
    replay = json.loads(response)
    for person_id in people:
        fresh = json.loads(passkeys.registration_options(person_id, "x", "x"))
        client_data = json.loads(base64url_to_bytes(replay["response"]["clientDataJSON"]))
        client_data["challenge"] = fresh["challenge"]
        replay["response"]["clientDataJSON"] = b64(json.dumps(client_data).encode())
        with pytest.raises(PasskeyError, match="already registered"):
            passkeys.register(person_id, json.dumps(replay))


def test_malformed_responses_are_refused(passkeys, people) -> None:
    for garbage in ("", "{}", "[]", json.dumps({"id": "x", "rawId": "!!", "type": "public-key", "response": {}})):
        passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
        with pytest.raises(PasskeyError):
            passkeys.register(people[0], garbage)
        _, handle = passkeys.authentication_options(people[0])
        with pytest.raises(PasskeyError):
            passkeys.authenticate(handle, garbage)


def test_a_challenge_made_for_one_person_cannot_be_used_for_another(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    credential = enrol(passkeys, people[1], authenticator)
    options, handle = passkeys.authentication_options(people[0])
    response = authenticator.get(options, base64url_to_bytes(credential.credential_id))
    with pytest.raises(PasskeyError, match="another person"):
        passkeys.authenticate(handle, response, people[1])


def test_remove_only_the_owners_credential(passkeys, people) -> None:
    credential = enrol(passkeys, people[0], SoftAuthenticator())
    assert not passkeys.remove(people[1], credential.credential_id)
    assert passkeys.remove(people[0], credential.credential_id)
    assert not passkeys.remove(people[0], credential.credential_id)
    assert passkeys.list(people[0]) == []


def test_overlong_names_are_refused_before_the_challenge_is_used(passkeys, people) -> None:
    authenticator = SoftAuthenticator()
    options = passkeys.registration_options(people[0], "0012345678", "Sara Ahmadi")
    with pytest.raises(ValueError):
        passkeys.register(people[0], authenticator.create(options), name="x" * 101)
    assert passkeys.register(people[0], authenticator.create(options), name="y" * 100).name == "y" * 100
