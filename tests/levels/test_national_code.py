import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.national_code import (
    InvalidNationalCode,
    is_valid_national_code,
    make_national_code,
    normalize_digits,
    parse_national_code,
)

# Worked by hand with weights 10..2 over the first nine digits:
#   0012345679: 8+14+18+20+20+18+14 = 112, 112 % 11 = 2  -> check 11-2 = 9
#   1234567891: 10+18+24+28+30+30+28+24+18 = 210, 210 % 11 = 1 -> check 1 (r < 2)
#   9876543210: 90+72+56+42+30+20+12+6+2 = 330, 330 % 11 = 0 -> check 0 (r < 2)
VALID = ["0012345679", "1234567891", "9876543210", "0123456789", "0293847568"]

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9).filter(lambda p: len(set(p)) > 1)


@pytest.mark.parametrize("code", VALID)
def test_known_codes_are_valid(code):
    assert is_valid_national_code(code)
    assert make_national_code(code[:9]) == code


@pytest.mark.parametrize("code", ["0012345678", "1234567890", "9876543211"])
def test_wrong_check_digit_is_invalid(code):
    assert not is_valid_national_code(code)


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digit_is_invalid_although_its_check_digit_fits(digit):
    assert not is_valid_national_code(digit * 10)
    with pytest.raises(InvalidNationalCode):
        make_national_code(digit * 9)


@pytest.mark.parametrize("code", ["", "123456789", "12345678901", "12345678a1", "۰۰۱۲۳۴۵۶۷۹", " 0012345679"])
def test_is_valid_wants_exactly_ten_ascii_digits(code):
    assert not is_valid_national_code(code)


def test_normalize_digits_maps_persian_and_arabic_indic_digits():
    assert normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"


def test_normalize_digits_strips_separators_and_invisible_marks():
    assert normalize_digits(" 001-234\u2013567 9\u00a0") == "0012345679"
    marked = "\u200f\u202b001\u200c234\u200d567\u200e9\u202c\ufeff\u2067\u2069\u061c"
    assert normalize_digits(marked) == "0012345679"


@pytest.mark.parametrize(
    "typed", ["0012345679", "۰۰۱۲۳۴۵۶۷۹", "٠٠١٢٣٤٥٦٧٩", "001-234567-9", "\u200e0012345679\u200f"]
)
def test_parse_accepts_typed_forms(typed):
    assert parse_national_code(typed) == "0012345679"


@pytest.mark.parametrize("typed", ["12345679", "012345679", "۱۲۳۴۵۶۷۹"])
def test_parse_left_pads_eight_or_nine_digits(typed):
    assert parse_national_code(typed) == "0012345679"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter your national code."),
        ("1234567", "A national code has 10 digits."),
        ("12345678901", "A national code has 10 digits."),
        ("00123x5679", "A national code has 10 digits."),
        ("²012345679", "A national code has 10 digits."),
        ("0012345678", "This is not a valid national code. Check the digits and try again."),
        ("1111111111", "This is not a valid national code. Check the digits and try again."),
    ],
)
def test_parse_rejects_with_a_human_message(typed, message):
    with pytest.raises(InvalidNationalCode, match=message) as info:
        parse_national_code(typed)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("prefix", ["12345678", "1234567890", "12345678a"])
def test_make_wants_nine_digits(prefix):
    with pytest.raises(InvalidNationalCode):
        make_national_code(prefix)


@given(nine_digits)
def test_make_national_code_is_always_valid(prefix):
    code = make_national_code(prefix)
    assert code[:9] == prefix
    assert is_valid_national_code(code)
    assert parse_national_code(code) == code


@given(nine_digits, st.integers(0, 9), st.integers(1, 9))
def test_changing_one_digit_is_caught_except_the_remainder_1_or_10_collision(prefix, position, delta):
    # 11 is prime and every weight is 2..10, so changing one of the first nine digits always changes
    # the remainder; the check digit is unique per remainder except that remainders 1 and 10 both give
    # check digit 1. So a one-digit change can only go unnoticed when the check digit is 1.
    code = make_national_code(prefix)
    changed = code[:position] + str((int(code[position]) + delta) % 10) + code[position + 1 :]
    if is_valid_national_code(changed):
        assert position < 9
        assert code[9] == "1"


def test_the_remainder_collision_exists():
    # 1234567891 sums to 210 (remainder 1); lowering the ninth digit by one gives 208 (remainder 10).
    # Both remainders give check digit 1, so this one-digit typo passes the check.
    assert is_valid_national_code("1234567891")
    assert is_valid_national_code("1234567881")
    assert not is_valid_national_code("1234567871")
