from datetime import date

import pytest

from levels.national_code import make_national_code
from levels.people_import import ImportRow, InvalidImportRow, check_import_fields, parse_import_row

TODAY = date(2025, 3, 21)
CODE = make_national_code("001234567")


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
