from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from levels.iranian_input import make_national_code
from levels.registration import (
    InvalidBirthdate,
    WeakPassword,
    check_new_password,
    common_passwords,
    parse_birthdate,
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
