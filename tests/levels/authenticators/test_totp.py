import base64
import math
import re

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.authenticators.totp import (
    RECOVERY_ALPHABET,
    Totp,
    hash_recovery_code,
    is_recovery_code_form,
    new_recovery_codes,
    normalize_recovery_code,
)

NOW = 1_742_545_800.0  # a multiple of 30: time step 58_084_860 starts here
STEP = int(NOW // 30)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TO_PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def code_at(counter: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).generate_otp(counter)


@pytest.fixture
def totp() -> Totp:
    return Totp(clock=lambda: NOW + 7)


def test_new_secret_is_160_random_bits_in_base32(totp):
    secret = totp.new_secret()
    assert re.fullmatch("[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert secret != totp.new_secret()


def test_provisioning_uri_names_issuer_and_account(totp):
    uri = totp.provisioning_uri(SECRET, "0012345679")
    assert uri.startswith("otpauth://totp/National%20sign-in:0012345679?")
    assert f"secret={SECRET}" in uri and "issuer=National%20sign-in" in uri


def test_provisioning_uri_states_non_default_parameters():
    uri = Totp(issuer="Tax", digits=8, interval=60).provisioning_uri(SECRET, "a")
    assert "digits=8" in uri and "period=60" in uri and "issuer=Tax" in uri


def test_qr_svg_is_inline_markup(totp):
    svg = totp.qr_svg(totp.provisioning_uri(SECRET, "0012345679"))
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and SECRET not in svg


def test_rfc_6238_vector():
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert Totp(digits=8, clock=lambda: 59).verify(secret, "94287082", None) == 1


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_codes_within_the_window_are_accepted_with_their_step(totp, offset):
    assert totp.verify(SECRET, code_at(STEP + offset), None) == STEP + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_codes_outside_the_window_are_refused(totp, offset):
    assert totp.verify(SECRET, code_at(STEP + offset), None) is None


def test_wider_window():
    totp = Totp(valid_window=2, clock=lambda: NOW)
    assert totp.verify(SECRET, code_at(STEP - 2), None) == STEP - 2


def test_a_used_code_is_refused_within_its_window(totp):
    step = totp.verify(SECRET, code_at(STEP), None)
    assert step == STEP
    assert totp.verify(SECRET, code_at(STEP), last_counter=step) is None


def test_an_older_code_is_refused_after_a_newer_one(totp):
    assert totp.verify(SECRET, code_at(STEP - 1), last_counter=STEP) is None
    assert totp.verify(SECRET, code_at(STEP + 1), last_counter=STEP) == STEP + 1


def test_wrong_and_malformed_codes_are_refused(totp):
    good = code_at(STEP)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    for code in (wrong, "", "12345", "1234567", "abcdef", good + "0", good[:5]):
        assert totp.verify(SECRET, code, None) is None


def test_code_for_another_secret_is_refused(totp):
    assert totp.verify(SECRET, code_at(STEP, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), None) is None


def test_persian_digits_and_spaces_are_accepted(totp):
    code = code_at(STEP)
    assert totp.verify(SECRET, f"{code[:3]} {code[3:]}".translate(TO_PERSIAN), None) == STEP


def test_agrees_with_pyotp_verify(totp):
    ref = pyotp.TOTP(SECRET)
    for offset in range(-3, 4):
        code = code_at(STEP + offset)
        assert (totp.verify(SECRET, code, None) is not None) == ref.verify(code, for_time=NOW + 7, valid_window=1)


@given(t=st.floats(min_value=1e9, max_value=4e9), offset=st.integers(-1, 1), last=st.integers(-2, 2))
def test_accepts_exactly_the_steps_after_last_counter(t, offset, last):
    step = int(t // 30)
    result = Totp(clock=lambda: t).verify(SECRET, code_at(step + offset), step + last)
    if offset > last:
        assert result == step + offset
    else:
        # Refused, unless another step in the window happens to produce the same six digits.
        assert result is None or result > step + last


def test_recovery_codes_are_friendly_unique_and_strong():
    codes = new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(f"[{RECOVERY_ALPHABET}]{{4}}-[{RECOVERY_ALPHABET}]{{4}}-[{RECOVERY_ALPHABET}]{{2}}", code)
        assert is_recovery_code_form(code)
    assert math.log2(len(RECOVERY_ALPHABET)) * 10 >= 50
    assert not set("ilou") & set(RECOVERY_ALPHABET)
    assert len(new_recovery_codes(3)) == 3


def test_recovery_code_hash_ignores_case_separators_and_look_alikes():
    code = "ab0c-1d2e-f3"
    expected = hash_recovery_code(code, b"s")
    assert re.fullmatch("[0-9a-f]{64}", expected)
    for typed in ("AB0C1D2EF3", " ab0c 1d2e f3 ", "abOc-ld2e-f3", "ABoC–ID2E–F۳", "ab0c\u200c-1d2e-f3"):
        assert hash_recovery_code(typed, b"s") == expected
    assert normalize_recovery_code("ABOC-ID2E-F۳") == "ab0c1d2ef3"


def test_recovery_code_hash_depends_on_code_and_secret():
    assert hash_recovery_code("ab0c-1d2e-f3", b"s") != hash_recovery_code("ab0c-1d2e-f4", b"s")
    assert hash_recovery_code("ab0c-1d2e-f3", b"s") != hash_recovery_code("ab0c-1d2e-f3", b"t")


def test_recovery_code_form_tells_totp_codes_apart():
    assert not is_recovery_code_form("123456")
    assert is_recovery_code_form("ABCD-EFGH-JK")


# The authenticator app as a factor: enrolment proven by a first code, then codes or recovery codes.

def test_enrolment_then_step_up_with_a_code_or_a_recovery_code(engine) -> None:
    import secrets as random
    from datetime import UTC, datetime

    from idp.storage.store import MemoryStore
    from keys.encryption import KeyEncryptor
    from levels.authenticators.base import EnrolmentFailed, Step
    from levels.authenticators.totp import TotpAuthenticator
    from levels.credentials_sql import SqlCredentialStore
    from levels.iranian_input import make_national_code
    from levels.people import SqlPersonStore, new_person

    person = new_person(make_national_code("001234567"), "Sara", "Ahmadi", now=datetime.now(UTC))
    SqlPersonStore(engine).add(person)
    cipher = KeyEncryptor(random.token_bytes(32))
    app = TotpAuthenticator(Totp(), SqlCredentialStore(engine, cipher.encrypt, cipher.decrypt), MemoryStore(),
                            recovery_key=b"r" * 32)
    assert not app.available(person) and app.enrolled(person)["has_totp"] is False
    with pytest.raises(EnrolmentFailed) as lapsed:
        app.finish_enrolment(person, "sid-1", {"code": "123456"})
    assert lapsed.value.data == {}
    shown = app.begin_enrolment(person, "sid-1")
    secret = str(shown["totp_secret"])
    assert shown["enrolling"] is True and "<svg" in str(shown["qr_svg"])
    with pytest.raises(EnrolmentFailed) as wrong:
        app.finish_enrolment(person, "sid-1", {"code": "12345x"})
    assert wrong.value.data["totp_secret"] == secret  # the same set-up goes on
    now = pyotp.TOTP(secret)
    codes = app.finish_enrolment(person, "sid-1", {"code": now.now()})["recovery_codes"]
    assert app.available(person) and len(codes) == 10  # type: ignore[arg-type]
    step = Step(person, "tx-1")
    # The code that finished the enrolment is used up; a recovery code works once.
    assert not app.verify(step, {"code": now.now()})
    assert app.verify(step, {"code": codes[0]}) and not app.verify(step, {"code": codes[0]})  # type: ignore[index]
    assert app.enrolled(person)["recovery_left"] == 9
    assert app.remove(person) and not app.available(person)
