import base64
import os
import stat

import pytest

from keys.encryption import KeyEncryptor, kek_from_text, load_or_create_kek
from keys.errors import InsecureKekFile, KeyDecryptionError

KEK = bytes(range(32))


def test_roundtrip_with_fresh_nonce_each_time():
    enc = KeyEncryptor(KEK)
    a, b = enc.encrypt(b"secret key", b"kid-1"), enc.encrypt(b"secret key", b"kid-1")
    assert a != b and b"secret key" not in a
    assert enc.decrypt(a, b"kid-1") == enc.decrypt(b, b"kid-1") == b"secret key"


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_tampering_is_detected(position):
    enc = KeyEncryptor(KEK)
    blob = bytearray(enc.encrypt(b"secret key", b"kid-1"))
    blob[position] ^= 0x01
    with pytest.raises(KeyDecryptionError):
        enc.decrypt(bytes(blob), b"kid-1")


def test_truncated_blob_is_rejected():
    with pytest.raises(KeyDecryptionError):
        KeyEncryptor(KEK).decrypt(b"\x01short", b"kid-1")


def test_blob_moved_to_another_kid_does_not_decrypt():
    enc = KeyEncryptor(KEK)
    with pytest.raises(KeyDecryptionError):
        enc.decrypt(enc.encrypt(b"secret key", b"kid-1"), b"kid-2")


def test_wrong_kek_is_detected():
    blob = KeyEncryptor(KEK).encrypt(b"secret key", b"kid-1")
    with pytest.raises(KeyDecryptionError):
        KeyEncryptor(os.urandom(32)).decrypt(blob, b"kid-1")


@pytest.mark.parametrize("kek", [b"", b"x" * 16, b"x" * 31, b"x" * 33])
def test_kek_must_be_32_bytes(kek):
    with pytest.raises(ValueError):
        KeyEncryptor(kek)


def test_kek_from_text_accepts_unpadded_base64url():
    text = base64.urlsafe_b64encode(KEK).rstrip(b"=").decode()
    assert kek_from_text(text + "\n") == KEK


@pytest.mark.parametrize("text", ["", "not base64!!", base64.urlsafe_b64encode(b"x" * 16).decode()])
def test_kek_from_text_rejects_bad_input(text):
    with pytest.raises(ValueError):
        kek_from_text(text)


def test_kek_file_is_created_0600_even_with_a_permissive_umask(tmp_path):
    path = tmp_path / "kek"
    old = os.umask(0o000)
    try:
        kek = load_or_create_kek(path)
    finally:
        os.umask(old)
    assert len(kek) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_kek(path) == kek, "the second call reads the same key"
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_kek_file_is_readable_by_us_under_a_strict_umask(tmp_path):
    old = os.umask(0o377)
    try:
        kek = load_or_create_kek(tmp_path / "kek")
    finally:
        os.umask(old)
    assert load_or_create_kek(tmp_path / "kek") == kek


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_kek_file_is_refused(tmp_path, mode):
    path = tmp_path / "kek"
    load_or_create_kek(path)
    path.chmod(mode)
    with pytest.raises(InsecureKekFile, match="chmod 600"):
        load_or_create_kek(path)


def test_kek_file_with_garbage_is_refused(tmp_path):
    path = tmp_path / "kek"
    path.write_text("garbage")
    path.chmod(0o600)
    with pytest.raises(ValueError):
        load_or_create_kek(path)
