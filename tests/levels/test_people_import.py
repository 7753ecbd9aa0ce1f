import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

import pytest

from levels.iranian_input import make_national_code
from levels.people_import import (
    BatchPlan,
    ImportRow,
    InvalidImportRow,
    PeopleImporter,
    PeopleImportStore,
    StoredPerson,
    check_import_fields,
    csv_records,
    jsonl_records,
    merge,
    parse_import_row,
)

TODAY = date(2025, 3, 21)
CODE = make_national_code("001234567")


# Import rows ---------------------------------------------------------------------------------------


def test_parse_import_row_normalizes_every_field():
    row = parse_import_row({"national_code": "12345679", "birth_date": "۱۳۶۹/۰۱/۰۱", "mobile": "0912 123 4567",
                            "proofing_tier": "2", "given_name": " سارا ", "family_name": "احمدی"}, today=TODAY)
    assert row == ImportRow("0012345679", date(1990, 3, 21), "+989121234567", 2, "سارا", "احمدی")


def test_parse_import_row_writes_names_with_persian_yeh_and_kaf():
    row = parse_import_row({"national_code": CODE, "birth_date": "", "mobile": "", "proofing_tier": "1",
                            "given_name": "علي", "family_name": "كريمى"}, today=TODAY)
    assert (row.given_name, row.family_name) == ("علی", "کریمی")


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


# Reading files -------------------------------------------------------------------------------------

HEADER = "national_code,birth_date,mobile,proofing_tier,given_name,family_name"


def test_csv_records_numbers_lines_and_reports_short_rows():
    lines = [HEADER + "\n", f"{CODE},1990-03-21,09121234567,1,S,A\n", "\n", f"{CODE},1990-03-21\n"]
    records = list(csv_records(lines))
    assert records[0] == (2, {"national_code": CODE, "birth_date": "1990-03-21", "mobile": "09121234567",
                              "proofing_tier": "1", "given_name": "S", "family_name": "A"})
    line, error = records[1]
    assert line == 4 and isinstance(error, InvalidImportRow) and "2 fields, the header has 6" in str(error)


@pytest.mark.parametrize(
    ("header", "message"),
    [("national_code,birth_date,mobile", "line 1: missing column"), (HEADER + ",password", "line 1: column")],
)
def test_csv_records_refuse_a_bad_header_before_any_row(header, message):
    with pytest.raises(InvalidImportRow, match=message):
        next(csv_records([header + "\n", f"{CODE},,,1,,\n"]))


def test_jsonl_records_report_lines_that_are_not_objects():
    lines = ['{"national_code": "1"}\n', "\n", "{not json\n", "[1]\n"]
    records = list(jsonl_records(lines))
    assert [(line, str(value)) for line, value in records[1:]] == [(3, "not valid JSON"), (4, "not a JSON object")]
    assert records[0] == (1, {"national_code": "1"})


def test_jsonl_records_refuse_a_first_object_with_a_password():
    with pytest.raises(InvalidImportRow, match="line 2: .*passwords are never imported"):
        list(jsonl_records(["\n", '{"national_code": "1", "password": "x"}\n']))


# Merging -------------------------------------------------------------------------------------------

STORED = StoredPerson("p1", "سارا", "احمدی", date(1990, 3, 21), "+989121234567", True, 1)


def row(**changes) -> ImportRow:
    values = {"national_code": CODE, "birthdate": None, "mobile": None, "proofing_tier": 1, "given_name": None,
              "family_name": None} | changes
    return ImportRow(**values)


def test_merge_of_empty_fields_changes_nothing():
    assert merge(STORED, row()) is None
    assert merge(STORED, row(mobile=STORED.mobile, birthdate=STORED.birthdate, given_name="سارا")) is None


def test_merge_of_a_new_mobile_unproves_it_and_the_tier_only_rises():
    merged = merge(replace(STORED, proofing_tier=2), row(mobile="+989120000000", proofing_tier=1))
    assert merged == replace(STORED, mobile="+989120000000", mobile_verified=False, proofing_tier=2)


def test_merge_keeps_the_names_of_identity_verified_people():
    assert merge(replace(STORED, proofing_tier=2), row(given_name="Sara", proofing_tier=3)) == replace(
        STORED, proofing_tier=3)
    assert merge(STORED, row(given_name="Sara")) == replace(STORED, given_name="Sara")


def test_merge_refuses_another_birth_date_for_a_verified_person():
    conflict = merge(replace(STORED, proofing_tier=2), row(birthdate=date(1990, 3, 22)))
    assert conflict == "birth_date differs from the identity-verified record; row not applied"
    assert merge(STORED, row(birthdate=date(1990, 3, 22))) == replace(STORED, birthdate=date(1990, 3, 22))


# The importer --------------------------------------------------------------------------------------

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)


@dataclass
class MemoryImportStore:
    """A `PeopleImportStore` in a dict, recording the batches it wrote."""

    people: dict[str, StoredPerson] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)

    def write_batch(self, national_codes, plan) -> BatchPlan:
        written = plan({c: self.people[c] for c in national_codes if c in self.people})
        for person in written.inserts:
            self.people[person.national_code] = StoredPerson(
                person.id, person.given_name, person.family_name, person.birthdate, person.mobile,
                person.mobile_verified, person.proofing_tier)
        by_id = {p.id: code for code, p in self.people.items()}
        for person in written.updates:
            self.people[by_id[person.id]] = person
        self.batches.append(list(national_codes))
        return written


def fields(code: str, **changes) -> dict[str, object]:
    return {"national_code": code, "birth_date": "", "mobile": "", "proofing_tier": "1"} | changes


def test_importer_writes_in_batches_and_counts():
    store: PeopleImportStore = MemoryImportStore()
    rejected: list[tuple[int, str]] = []
    importer = PeopleImporter(store, batch_size=2, now=NOW, on_reject=lambda *args: rejected.append(args))
    codes = [make_national_code(f"00000{i:04d}") for i in range(1, 6)]
    for line, code in enumerate(codes, start=2):
        importer.feed(line, fields(code, given_name="علي"))
    importer.feed(7, fields("123"))
    importer.feed(8, InvalidImportRow("not valid JSON"))
    importer.flush()
    assert store.batches == [codes[0:2], codes[2:4], codes[4:5]]
    assert importer.counts.totals() == {"created": 5, "updated": 0, "unchanged": 0, "rejected": 2}
    assert [line for line, _ in rejected] == [7, 8]
    assert [e["line"] for e in importer.counts.errors] == [7, 8]
    assert {p.given_name for p in store.people.values()} == {"علی"}


def test_importer_applies_a_repeated_code_in_a_later_batch():
    store = MemoryImportStore()
    importer = PeopleImporter(store, batch_size=100, now=NOW)
    importer.feed(2, fields(CODE, mobile="09121234567"))
    importer.feed(3, fields(CODE, mobile="09129999999"))
    importer.flush()
    assert store.batches == [[CODE], [CODE]]
    assert importer.counts.totals() == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 0}
    assert store.people[CODE].mobile == "+989129999999"


def test_importer_reports_rows_the_merge_refuses():
    store = MemoryImportStore({CODE: replace(STORED, proofing_tier=2)})
    importer = PeopleImporter(store, batch_size=10, now=NOW)
    importer.feed(2, fields(CODE, birth_date="1990-03-22"))
    importer.flush()
    assert importer.counts.errors == [{"line": 2, "error": "birth_date differs from the identity-verified record;"
                                                           " row not applied"}]


@dataclass
class SlowImportStore(MemoryImportStore):
    """Writes each batch only once `release` is set, counting how many batches it writes at once."""

    release: threading.Event = field(default_factory=threading.Event)
    writing: int = 0
    most_at_once: int = 0
    threads: set[int] = field(default_factory=set)

    def write_batch(self, national_codes, plan) -> BatchPlan:
        self.writing += 1
        self.most_at_once = max(self.most_at_once, self.writing)
        self.threads.add(threading.get_ident())
        try:
            assert self.release.wait(10)
            return super().write_batch(national_codes, plan)
        finally:
            self.writing -= 1


def test_importer_reads_the_next_batch_while_one_is_written_and_reports_in_file_order():
    store = SlowImportStore({CODE: replace(STORED, proofing_tier=2)})
    rejected: list[int] = []
    importer = PeopleImporter(store, batch_size=1, now=NOW, on_reject=lambda line, _: rejected.append(line))
    other = make_national_code("002345678")
    importer.feed(2, fields(CODE, birth_date="1990-03-22"))  # refused by the merge, once written
    importer.feed(3, fields(other))  # starts writing line 2's batch
    importer.feed(4, fields("123"))  # unreadable while line 2's batch is being written
    assert rejected == [] and store.batches == []
    store.release.set()
    importer.flush()
    # As a one-batch-at-a-time import reports them: line 2's batch, then what came after it.
    assert rejected == [2, 4]
    assert store.batches == [[CODE], [other]]
    assert store.most_at_once == 1 and threading.get_ident() not in store.threads
    assert importer.counts.totals() == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}


def test_importer_raises_what_a_batch_write_raised():
    class BrokenStore:
        def write_batch(self, national_codes, plan):
            raise RuntimeError("database gone")

    importer = PeopleImporter(BrokenStore(), batch_size=1, now=NOW)
    importer.feed(2, fields(CODE))
    importer.feed(3, fields(make_national_code("002345678")))
    with pytest.raises(RuntimeError, match="database gone"):
        importer.feed(4, fields(make_national_code("003456789")))
        importer.flush()
    assert importer.counts.totals()["created"] == 0
