from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.national_code import make_national_code
from levels.registration import (
    ImportRow,
    InvalidBirthdate,
    InvalidDate,
    InvalidImportRow,
    InvalidMobile,
    MalformedDate,
    WeakPassword,
    check_import_fields,
    check_new_password,
    common_passwords,
    normalize_mobile,
    parse_birthdate,
    parse_calendar_date,
    parse_import_row,
)

TODAY = date(2025, 3, 21)
CODE = make_national_code("001234567")


# Birth dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1369/01/01", date(1990, 3, 21)),
        ("1369/1/1", date(1990, 3, 21)),
        ("۱۳۶۹-۰۱-۰۱", date(1990, 3, 21)),
        ("۱۳۶۹/۰۱/۰۱", date(1990, 3, 21)),
        ("١٣٦٩/٠١/٠١", date(1990, 3, 21)),
        ("\u200f۱۳۶۹/۰۱/۰۱\u200f", date(1990, 3, 21)),
        ("13690101", date(1990, 3, 21)),
        ("1403/12/30", date(2025, 3, 20)),  # 1403 is a leap year
        ("1990-03-21", date(1990, 3, 21)),
        ("1990/3/21", date(1990, 3, 21)),
        ("1990.03.21", date(1990, 3, 21)),
        ("19900321", date(1990, 3, 21)),
        (" 2000-02-29 ", date(2000, 2, 29)),
        ("2025-03-21", TODAY),
    ],
)
def test_parse_birthdate_reads_jalali_and_gregorian(text, expected):
    assert parse_birthdate(text, today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter your birth date"),
        ("   ", "Enter your birth date"),
        ("21/03/1990", "year/month/day"),
        ("1369", "year/month/day"),
        ("yesterday", "year/month/day"),
        ("1402/12/30", "Persian calendar"),  # 1402 is not a leap year
        ("1369/13/01", "Persian calendar"),
        ("1369/07/31", "Persian calendar"),  # the second half of the year has 30-day months
        ("1990-02-29", "Gregorian calendar"),
        ("1990-13-01", "Gregorian calendar"),
        ("2025-03-22", "future"),
        ("1404/01/02", "future"),
        ("1894-03-20", "130 years"),
        ("1273/01/01", "130 years"),
    ],
)
def test_parse_birthdate_rejects_impossible_future_and_implausible_dates(text, message):
    with pytest.raises(InvalidBirthdate, match=message):
        parse_birthdate(text, today=TODAY)


def test_parse_birthdate_allows_exactly_130_years():
    assert parse_birthdate("1895-03-21", today=TODAY) == date(1895, 3, 21)


def test_invalid_birthdate_is_a_value_error():
    assert issubclass(InvalidBirthdate, ValueError)


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
def test_gregorian_iso_dates_round_trip(day):
    assert parse_birthdate(day.isoformat(), today=TODAY) == day


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


# New passwords -------------------------------------------------------------------------------------


def test_check_new_password_accepts_a_reasonable_password():
    check_new_password("correct horse battery staple", national_code=CODE)
    check_new_password("گذرواژه‌ی خوب من")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 8"),
        ("x" * 1025, "at most 1024"),
        ("password", "most common"),
        ("PassWord1", "most common"),
        ("qwertyuiop", "most common"),
        (CODE, "national code"),
        (f"me{CODE}!", "national code"),
        ("۰۰۱۲۳۴۵۶۷۹ab", "national code"),
    ],
)
def test_check_new_password_rejects_weak_passwords(password, message):
    with pytest.raises(WeakPassword, match=message):
        check_new_password(password, national_code=CODE)


def test_check_new_password_allows_exactly_the_limits():
    check_new_password("k7#Lq!z2")
    check_new_password("k" * 1024)


def test_shipped_common_password_list():
    words = common_passwords()
    assert 4000 <= len(words) <= 6000
    assert {"123456", "password", "qwerty", "iloveyou"} <= words
    assert all(w == w.lower() and w and not w.startswith("#") for w in words)


# Import rows ---------------------------------------------------------------------------------------


def test_parse_import_row_normalizes_every_field():
    row = parse_import_row({"national_code": "12345679", "birth_date": "۱۳۶۹/۰۱/۰۱", "mobile": "0912 123 4567",
                            "proofing_tier": "2", "given_name": " سارا ", "family_name": "احمدی"}, today=TODAY)
    assert row == ImportRow("0012345679", date(1990, 3, 21), "+989121234567", 2, "سارا", "احمدی")


def test_parse_import_row_treats_empty_fields_as_unknown():
    row = parse_import_row({"national_code": CODE, "birth_date": "", "mobile": "", "proofing_tier": ""},
                           today=TODAY)
    assert row == ImportRow(CODE, None, None, 1, None, None)


def test_parse_import_row_takes_json_numbers():
    row = parse_import_row({"national_code": 12345679, "birth_date": None, "mobile": None, "proofing_tier": 3},
                           today=TODAY)
    assert (row.national_code, row.proofing_tier) == (CODE, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"national_code": "0012345678"}, "national_code"),
        ({"birth_date": "1402/12/30"}, "birth_date"),
        ({"mobile": "02112345678"}, "mobile"),
        ({"proofing_tier": "4"}, "proofing_tier"),
        ({"proofing_tier": True}, "proofing_tier"),
        ({"given_name": "x" * 101}, "at most 100"),
        ({"password": "hunter2"}, "passwords are never imported"),
        ({"email": "a@b.example"}, "unknown column"),
    ],
)
def test_parse_import_row_names_the_bad_field(change, message):
    fields = {"national_code": CODE, "birth_date": "", "mobile": "", "proofing_tier": "1"} | change
    with pytest.raises(InvalidImportRow, match=message):
        parse_import_row(fields, today=TODAY)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["national_code", "birth_date", "mobile", "proofing_tier", "password_hash"], "never imported"),
        (["national_code", "birth_date", "mobile"], "missing column"),
        (["national_code", "birth_date", "mobile", "proofing_tier", "mobile"], "twice"),
    ],
)
def test_check_import_fields(names, message):
    with pytest.raises(InvalidImportRow, match=message):
        check_import_fields(names)


@pytest.mark.parametrize("password", ["k7#Lq!z2", "رمزعبور۱", "x" * 1024])
def test_check_new_password_accepts_any_script_up_to_the_limit(password):
    check_new_password(password)


@pytest.mark.parametrize("password", ["", "1234567", "رمزعبور", "x" * 1025])
def test_check_new_password_rejects_by_length(password):
    with pytest.raises(WeakPassword) as info:
        check_new_password(password)
    assert isinstance(info.value, ValueError)
