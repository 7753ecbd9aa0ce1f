import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import text

from keys.encryption import KeyEncryptor
from keys.errors import InvalidToken, KeyDecryptionError, NoActiveKey, UnsupportedAlgorithm
from keys.keyring import KeyRing
from keys.models import KeyState
from keys.rotation import RotationPolicy
from keys.store_sql import SqlKeyStore
from tests.clock import Clock

KEK = bytes(range(32))
CLAIMS = {"iss": "https://idp.example", "sub": "person-1", "aud": "rp-1", "exp": 2_000_000_000}




@pytest.fixture
def clock():
    return Clock(datetime(2025, 1, 1, tzinfo=UTC))


@pytest.fixture
def make_keyring(engine, clock):
    def make(**kwargs):
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("reload_interval", 3600.0)
        return KeyRing(SqlKeyStore(engine), KeyEncryptor(kwargs.pop("kek", KEK)), **kwargs)

    return make


@pytest.fixture
def keyring(make_keyring):
    kr = make_keyring()
    kr.ensure()
    return kr


def third_party_decode(token: str, jwks: dict, alg: str = "ES256"):
    """Verify as a relying party would: joserfc against the published JWKS, not our verify()."""
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=[alg])


def all_keys(keyring):
    # A named helper: ruff's SIM118 mistakes `for k in keyring.keys()` for a dict iteration.
    result = keyring.keys()
    return result


def by_state(keyring, alg):
    return {k.state: k for k in all_keys(keyring) if k.alg == alg}


def test_ensure_creates_one_active_and_one_next_key_per_alg_and_is_idempotent(keyring):
    first = keyring.keys()
    assert sorted((k.alg, k.state) for k in first) == [
        ("ES256", KeyState.ACTIVE),
        ("ES256", KeyState.NEXT),
        ("RS256", KeyState.ACTIVE),
        ("RS256", KeyState.NEXT),
    ]
    keyring.ensure()
    assert keyring.keys() == first


def test_signed_token_verifies_against_the_published_jwks(keyring):
    token = keyring.sign(CLAIMS, typ="at+jwt")
    decoded = third_party_decode(token, keyring.jwks())
    assert decoded.claims == CLAIMS
    assert decoded.header == {
        "alg": "ES256",
        "kid": by_state(keyring, "ES256")[KeyState.ACTIVE].kid,
        "typ": "at+jwt",
    }


def test_rs256_signs_with_the_rsa_key(keyring):
    token = keyring.sign(CLAIMS, alg="RS256")
    decoded = third_party_decode(token, keyring.jwks(), alg="RS256")
    assert decoded.header["kid"] == by_state(keyring, "RS256")[KeyState.ACTIVE].kid
    assert keyring.verify(token) == (decoded.header, CLAIMS)


def test_token_signed_before_rotation_still_verifies_after_it(keyring):
    before = keyring.sign(CLAIMS)
    old_active, old_next = (
        by_state(keyring, "ES256")[KeyState.ACTIVE],
        by_state(keyring, "ES256")[KeyState.NEXT],
    )
    plan = keyring.rotate("ES256")
    assert (plan.activate, plan.retire, plan.create_next) == (old_next.kid, (old_active.kid,), True)

    after = keyring.sign(CLAIMS)
    assert third_party_decode(after, keyring.jwks()).header["kid"] == old_next.kid
    assert third_party_decode(before, keyring.jwks()).claims == CLAIMS
    assert keyring.verify(before)[1] == CLAIMS
    assert {k["kid"] for k in keyring.jwks()["keys"]} >= {old_active.kid, old_next.kid}


def test_retired_key_leaves_the_jwks_after_remove_after(make_keyring, clock):
    kr = make_keyring(policy=RotationPolicy(remove_after=timedelta(hours=1)))
    kr.ensure(["ES256"])
    old = by_state(kr, "ES256")[KeyState.ACTIVE]
    token = kr.sign(CLAIMS)
    kr.rotate("ES256")
    clock.now += timedelta(hours=1)
    kr.ensure(["ES256"])
    assert old.kid not in {k["kid"] for k in kr.jwks()["keys"]}
    assert old.kid not in {k.kid for k in all_keys(kr)}
    with pytest.raises(InvalidToken):
        kr.verify(token)


def test_removed_key_has_its_private_half_erased(make_keyring, engine, clock):
    kr = make_keyring(policy=RotationPolicy(remove_after=timedelta(hours=1)))
    kr.ensure(["ES256"])
    old = by_state(kr, "ES256")[KeyState.ACTIVE]
    kr.rotate("ES256")
    clock.now += timedelta(hours=2)
    kr.ensure(["ES256"])
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT state, private_key FROM signing_keys WHERE kid = :kid"), {"kid": old.kid}
        ).one()
    assert row.state == "removed" and bytes(row.private_key) == b""


def test_jwks_has_next_active_and_retired_keys_and_no_private_members(keyring):
    keyring.rotate("ES256")
    jwks = keyring.jwks()
    published = {(k.kid, k.state) for k in all_keys(keyring)}
    assert {k["kid"] for k in jwks["keys"]} == {kid for kid, _ in published}
    assert {state for _, state in published} == {KeyState.NEXT, KeyState.ACTIVE, KeyState.RETIRED}
    for jwk in jwks["keys"]:
        assert jwk["use"] == "sig" and jwk["alg"] in ("ES256", "RS256") and jwk["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()
    assert json.loads(keyring.jwks_bytes()) == jwks
    assert {k.kid for k in keyring.public_keyset().keys} == {k["kid"] for k in jwks["keys"]}


def test_jwks_bytes_are_cached_until_the_keys_change(keyring):
    first = keyring.jwks_bytes()
    assert keyring.jwks_bytes() is first
    keyring.rotate("ES256")
    assert keyring.jwks_bytes() != first


def test_private_key_is_not_stored_in_plaintext(keyring, engine):
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT kid, private_key, public_jwk FROM signing_keys")).all()
    assert len(rows) == 4
    encryptor = KeyEncryptor(KEK)
    for kid, blob, _ in rows:
        blob = bytes(blob)
        der = encryptor.decrypt(blob, kid.encode())
        assert b"PRIVATE KEY" not in blob and b"BEGIN" not in blob
        assert der not in blob and der[-32:] not in blob
    assert all("d" not in (json.loads(pub) if isinstance(pub, str) else pub) for _, _, pub in rows)


def test_wrong_kek_fails_loudly_on_first_use(keyring, make_keyring):
    other = make_keyring(kek=bytes(32))
    with pytest.raises(KeyDecryptionError):
        other.sign(CLAIMS)


def test_another_process_sees_a_rotation_after_its_reload_interval(keyring, make_keyring):
    server = make_keyring(reload_interval=3600.0)
    polling = make_keyring(reload_interval=0.0)
    jwks_before = server.jwks_bytes()
    assert polling.jwks_bytes() == jwks_before

    keyring.rotate("ES256")  # e.g. `idp keys rotate` in another process
    new_active = by_state(keyring, "ES256")[KeyState.ACTIVE].kid

    server.maybe_reload()
    assert server.jwks_bytes() is jwks_before, "not due yet: no I/O, same bytes"
    polling.maybe_reload()
    assert json.loads(polling.jwks_bytes()) == keyring.jwks()
    assert jwt.decode(polling.sign(CLAIMS), polling.public_keyset()).header["kid"] == new_active


def test_concurrent_ensure_from_two_processes_leaves_one_active_and_one_next(make_keyring):
    rings = [make_keyring() for _ in range(4)]
    barrier = threading.Barrier(len(rings))
    errors = []

    def run(kr):
        barrier.wait()
        try:
            kr.ensure(["ES256"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(kr,)) for kr in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rings[0].reload()
    states = sorted(k.state for k in all_keys(rings[0]) if k.alg == "ES256")
    assert states.count(KeyState.ACTIVE) == 1 and states.count(KeyState.NEXT) == 1
    kids = {kr.sign(CLAIMS).split(".")[0] for kr in rings}
    assert len(kids) == 1, "every process signs with the same active key"


def test_sign_without_keys_or_with_unknown_alg_fails(make_keyring):
    kr = make_keyring()
    with pytest.raises(NoActiveKey):
        kr.sign(CLAIMS)
    with pytest.raises(UnsupportedAlgorithm):
        kr.sign(CLAIMS, alg="HS256")
    with pytest.raises(UnsupportedAlgorithm):
        kr.rotate("none")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tampered_tokens(keyring):
    token = keyring.sign(CLAIMS)
    header, payload, sig = token.split(".")
    forged_payload = _b64(json.dumps({**CLAIMS, "sub": "someone-else"}).encode())
    active_kid = json.loads(keyring.jwks_bytes())["keys"][0]["kid"]
    return {
        "payload changed": f"{header}.{forged_payload}.{sig}",
        "signature changed": f"{header}.{payload}.{sig[:-4]}AAAA",
        "signature dropped": f"{header}.{payload}.",
        "unknown kid": f"{_b64(json.dumps({'alg': 'ES256', 'kid': 'nope'}).encode())}.{payload}.{sig}",
        "no kid": f"{_b64(json.dumps({'alg': 'ES256'}).encode())}.{payload}.{sig}",
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'kid': active_kid}).encode())}.{payload}.",
        "alg swapped": f"{_b64(json.dumps({'alg': 'RS256', 'kid': active_kid}).encode())}.{payload}.{sig}",
        "header not json": f"{_b64(b'not json')}.{payload}.{sig}",
        "header a list": f"{_b64(b'[]')}.{payload}.{sig}",
        "garbage": "garbage",
        "two parts": f"{header}.{payload}",
        "empty": "",
        "not base64": "!!!.???.***",
    }


def test_verify_rejects_tampered_unknown_and_garbage_tokens(keyring):
    accepted = []
    for name, token in _tampered_tokens(keyring).items():
        try:
            keyring.verify(token)
        except InvalidToken:
            continue
        accepted.append(name)
    assert accepted == []


def test_verify_respects_the_algs_allowed_by_the_caller(keyring):
    token = keyring.sign(CLAIMS, alg="RS256")
    with pytest.raises(InvalidToken):
        keyring.verify(token, algs=("ES256",))
