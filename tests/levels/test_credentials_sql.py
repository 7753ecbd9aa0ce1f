import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from keys.encryption import KeyEncryptor
from keys.errors import KeyDecryptionError
from levels.credentials_sql import CredentialStore, RecoveryCodeRow, SqlCredentialStore, TotpCredentialRow
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore, UnknownPerson, new_person

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def person_ids(engine) -> list[str]:
    people = SqlPersonStore(engine)
    ids = []
    for prefix in ("001234567", "987654321"):
        person = new_person(make_national_code(prefix), "Sara", "Ahmadi", now=NOW)
        people.add(person)
        ids.append(person.id)
    return ids


@pytest.fixture
def pid(person_ids) -> str:
    return person_ids[0]


@pytest.fixture
def credentials(engine) -> SqlCredentialStore:
    encryptor = KeyEncryptor(secrets.token_bytes(32))
    return SqlCredentialStore(engine, encryptor.encrypt, encryptor.decrypt)


def test_sql_store_satisfies_the_protocol(credentials):
    store: CredentialStore = credentials
    assert store is credentials


def test_totp_round_trip(credentials, pid):
    assert not credentials.has_totp(pid)
    assert credentials.totp_secret(pid) is None and credentials.totp_last_counter(pid) is None
    credentials.set_totp(pid, SECRET, NOW)
    assert credentials.has_totp(pid)
    assert credentials.totp_secret(pid) == SECRET
    assert credentials.totp_last_counter(pid) is None


def test_secret_is_not_stored_in_plaintext(credentials, engine, pid):
    credentials.set_totp(pid, SECRET, NOW)
    with engine.connect() as conn:
        blob = conn.execute(select(TotpCredentialRow.secret_encrypted)).scalar_one()
    assert SECRET.encode() not in bytes(blob)
    assert SECRET.lower().encode() not in bytes(blob)


def test_secret_is_bound_to_its_person(credentials, engine, person_ids):
    a, b = person_ids
    credentials.set_totp(a, SECRET, NOW)
    credentials.set_totp(b, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", NOW)
    table = TotpCredentialRow.__table__
    with engine.begin() as conn:
        blob = conn.execute(select(table.c.secret_encrypted).where(table.c.person_id == a)).scalar_one()
        conn.execute(table.update().where(table.c.person_id == b).values(secret_encrypted=blob))
    with pytest.raises(KeyDecryptionError):
        credentials.totp_secret(b)


def test_counter_only_moves_forward(credentials, pid):
    credentials.set_totp(pid, SECRET, NOW)
    assert credentials.advance_totp_counter(pid, 100, NOW)
    assert credentials.totp_last_counter(pid) == 100
    assert not credentials.advance_totp_counter(pid, 100, NOW)
    assert not credentials.advance_totp_counter(pid, 99, NOW)
    assert credentials.advance_totp_counter(pid, 101, NOW + timedelta(seconds=30))
    assert credentials.totp_last_counter(pid) == 101


def test_counter_cannot_advance_without_totp(credentials, pid):
    assert not credentials.advance_totp_counter(pid, 1, NOW)
    assert not credentials.advance_totp_counter("nobody", 1, NOW)


def test_concurrent_advances_of_one_step_succeed_once(credentials, pid):
    credentials.set_totp(pid, SECRET, NOW)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: credentials.advance_totp_counter(pid, 500, NOW), range(16)))
    assert results.count(True) == 1


def test_set_totp_replaces_secret_and_forgets_the_counter(credentials, pid):
    credentials.set_totp(pid, SECRET, NOW)
    credentials.advance_totp_counter(pid, 100, NOW)
    credentials.set_totp(pid, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", NOW)
    assert credentials.totp_secret(pid) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert credentials.totp_last_counter(pid) is None


def test_set_totp_for_unknown_person(credentials):
    with pytest.raises(UnknownPerson):
        credentials.set_totp("nobody", SECRET, NOW)


def test_delete_totp(credentials, person_ids):
    a, b = person_ids
    credentials.set_totp(a, SECRET, NOW)
    credentials.set_totp(b, SECRET, NOW)
    credentials.delete_totp(a)
    credentials.delete_totp(a)
    assert not credentials.has_totp(a) and credentials.totp_secret(a) is None
    assert credentials.has_totp(b)


def test_recovery_codes_are_single_use(credentials, pid):
    credentials.replace_recovery_codes(pid, ["h1", "h2", "h3"], NOW)
    assert credentials.remaining_recovery_codes(pid) == 3
    assert credentials.use_recovery_code(pid, "h2", NOW)
    assert not credentials.use_recovery_code(pid, "h2", NOW)
    assert not credentials.use_recovery_code(pid, "unknown", NOW)
    assert credentials.remaining_recovery_codes(pid) == 2


def test_recovery_codes_belong_to_their_person(credentials, person_ids):
    a, b = person_ids
    credentials.replace_recovery_codes(a, ["h1"], NOW)
    assert not credentials.use_recovery_code(b, "h1", NOW)
    assert credentials.remaining_recovery_codes(b) == 0
    assert credentials.use_recovery_code(a, "h1", NOW)


def test_concurrent_use_of_one_recovery_code_succeeds_once(credentials, pid):
    credentials.replace_recovery_codes(pid, ["h1"], NOW)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: credentials.use_recovery_code(pid, "h1", NOW), range(16)))
    assert results.count(True) == 1


def test_replacing_recovery_codes_discards_the_old_ones(credentials, engine, pid):
    credentials.replace_recovery_codes(pid, ["h1", "h2"], NOW)
    credentials.use_recovery_code(pid, "h1", NOW)
    credentials.replace_recovery_codes(pid, ["h3", "h4", "h4"], NOW)
    assert credentials.remaining_recovery_codes(pid) == 2
    assert not credentials.use_recovery_code(pid, "h2", NOW)
    assert credentials.use_recovery_code(pid, "h3", NOW)
    with engine.connect() as conn:
        hashes = set(conn.execute(select(RecoveryCodeRow.code_hash)).scalars())
    assert hashes == {"h3", "h4"}


def test_recovery_codes_for_unknown_person(credentials):
    with pytest.raises(UnknownPerson):
        credentials.replace_recovery_codes("nobody", ["h1"], NOW)


def test_credentials_go_with_the_person(credentials, engine, pid):
    from levels.store_sql import PersonRow

    credentials.set_totp(pid, SECRET, NOW)
    credentials.replace_recovery_codes(pid, ["h1"], NOW)
    with engine.begin() as conn:
        conn.execute(PersonRow.__table__.delete().where(PersonRow.__table__.c.id == pid))
    assert not credentials.has_totp(pid) and credentials.remaining_recovery_codes(pid) == 0
