from datetime import date

import jdatetime
import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.iranian_input import (
    ARABIC_INDIC_DIGITS,
    PERSIAN_DIGITS,
    InvalidDate,
    InvalidMobile,
    InvalidNationalCode,
    InvalidNationalId,
    MalformedDate,
    format_jalali,
    is_valid_national_code,
    is_valid_national_id,
    make_national_code,
    make_national_id,
    normalize_date_text,
    normalize_digits,
    normalize_mobile,
    normalize_name,
    parse_calendar_date,
    parse_national_code,
    parse_national_id,
    to_ascii_digits,
    to_persian_digits,
)

# Digits --------------------------------------------------------------------------------------------


def test_digit_tables_are_in_order():
    # Compared as text: int() itself reads Persian digits, so it would not notice a shuffled table.
    assert to_ascii_digits(PERSIAN_DIGITS) == to_ascii_digits(ARABIC_INDIC_DIGITS) == "0123456789"
    assert [int(d) for d in PERSIAN_DIGITS] == [int(d) for d in ARABIC_INDIC_DIGITS] == list(range(10))
    assert to_persian_digits("0123456789") == PERSIAN_DIGITS


@given(st.text())
def test_persian_digits_round_trip(text):
    assert to_ascii_digits(to_persian_digits(text)) == to_ascii_digits(text)


def test_to_ascii_digits_changes_nothing_else():
    assert to_ascii_digits("کد ۱۲-٣ x\u200f") == "کد 12-3 x\u200f"


# Names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("علي", "علی"),  # Arabic yeh
        ("مصطفى", "مصطفی"),  # alef maksura
        ("كريمي", "کریمی"),  # Arabic kaf and yeh
        ("  سارا   احمدی ", "سارا احمدی"),
        ("\u200fعلی\u200e", "علی"),
        ("علی\u200cاکبر", "علی\u200cاکبر"),  # ZWNJ is Persian spelling
        ("Sara", "Sara"),
        ("", ""),
    ],
)
def test_normalize_name(typed, stored):
    assert normalize_name(typed) == stored


def test_normalized_names_have_no_arabic_yeh_or_kaf():
    assert not {"\u064a", "\u0649", "\u0643"} & set(normalize_name("يىك ي ى ك"))


@given(st.text())
def test_normalize_name_is_idempotent(text):
    once = normalize_name(text)
    assert normalize_name(once) == once
    assert not {"\u064a", "\u0649", "\u0643"} & set(once)


# Dates ---------------------------------------------------------------------------------------------


def test_normalize_date_text():
    assert normalize_date_text("\u200f ۱۳۶۹\u2013۰۱\u060d۰۱ ") == "1369-01-01"
    assert normalize_date_text(" \u200e ") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1369/01/01", date(1990, 3, 21)), ("۱۳۶۹-۰۱-۰۱", date(1990, 3, 21)), ("13690101", date(1990, 3, 21)),
     ("1990.03.21", date(1990, 3, 21))],
)
def test_parse_calendar_date_reads_both_calendars(text, expected):
    assert parse_calendar_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("۱۴۰۴/۱۲/۲۹", date(2026, 3, 20)), ("2030-01-01", date(2030, 1, 1)), ("1273/01/01", date(1894, 3, 21))],
)
def test_parse_calendar_date_has_no_birth_date_limits(text, expected):
    assert parse_calendar_date(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("", MalformedDate, "Enter a date"),
        ("31/12/2025", MalformedDate, "year/month/day, for example 1369/01/01 or 1990-03-21"),
        ("1402/12/30", InvalidDate, "There is no day 1402/12/30 in the Persian calendar"),
        ("2025-02-29", InvalidDate, "There is no day 2025-02-29 in the Gregorian calendar"),
    ],
)
def test_parse_calendar_date_errors(text, error, message):
    with pytest.raises(error, match=message):
        parse_calendar_date(text)




def test_a_persian_day_that_does_not_exist_is_refused_every_time():
    for _ in range(3):  # conversions are remembered: a refusal must be too
        with pytest.raises(InvalidDate, match="1403/12/31"):
            parse_calendar_date("1403/12/31")
    assert parse_calendar_date("1403/12/30") == date(2025, 3, 20)


@given(st.text(alphabet="0123456789/-. \u200f\u2013\u060d", max_size=12))
def test_normalize_date_text_of_ascii_text_is_the_trimmed_text(text):
    expected = text.replace("\u200f", "").replace("\u2013", "-").replace("\u060d", "-").strip()
    assert normalize_date_text(text) == expected


def test_format_jalali():
    assert format_jalali(date(1990, 3, 21)) == "1369/01/01"
    assert format_jalali(date(2025, 3, 20)) == "1403/12/30"


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_jalali_round_trip(day):
    assert parse_calendar_date(format_jalali(day)) == day
    assert format_jalali(day) == jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d")


# Mobile numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "09121234567",
        "9121234567",
        "+989121234567",
        "00989121234567",
        "989121234567",
        "+98 (0)912 123 4567",
        "0912-123-4567",
        "0912 123 4567",
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
        "+۹۸۹۱۲۱۲۳۴۵۶۷",
        "\u200e09121234567\u200e",
    ],
)
def test_normalize_mobile_gives_e164(text):
    assert normalize_mobile(text) == "+989121234567"


@pytest.mark.parametrize("prefix", ["0901", "0912", "0919", "0921", "0935", "0990", "0999"])
def test_normalize_mobile_accepts_every_09_range(prefix):
    assert normalize_mobile(prefix + "1234567") == "+98" + prefix[1:] + "1234567"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "02112345678",  # Tehran landline
        "+982112345678",
        "0912123456",  # too short
        "091212345678",  # too long
        "+4915112345678",  # German mobile
        "+989121234567x",
        "phone",
    ],
)
def test_normalize_mobile_rejects_other_numbers(text):
    with pytest.raises(InvalidMobile):
        normalize_mobile(text)


# National codes ------------------------------------------------------------------------------------

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


@given(st.text(alphabet="0123456789۰۱۹٠٩ -\u2013\u200f\u00a0x", max_size=14))
def test_normalize_digits_of_any_text_is_ascii_digits_and_what_is_not_a_separator(text):
    # ASCII digits alone come back as they are (the fast path); everything else goes the long way.
    expected = "".join(c for c in to_ascii_digits(text) if c not in " -\u2013\u200f\u00a0")
    assert normalize_digits(text) == expected


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


# National IDs of legal entities (more in tests/legal_entities/test_national_id.py) -----------------


def test_national_id_parse_and_make():
    assert make_national_id("1038028479") == "10380284790"
    assert is_valid_national_id("10380284790")
    assert parse_national_id("۱۰۳۸۰-۲۸۴۷۹۰") == "10380284790"
    with pytest.raises(InvalidNationalId, match="11 digits"):
        parse_national_id("1038028479")  # never padded, unlike a national code
