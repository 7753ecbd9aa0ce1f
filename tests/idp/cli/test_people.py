from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

import jdatetime
import pytest
import typer
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner, Result

from idp.cli.people import PeopleContext, build_app
from levels.iranian_input import make_national_code
from levels.people import SqlPersonStore
from levels.people_import_sql import SqlPeopleImport
from levels.proofing import ProofingService, SimulatedRegistry
from levels.proofing_sql import SqlProofingStore
from levels.store_sql import PersonRow

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
CODE = make_national_code("001234567")
HEADER = "national_code,birth_date,mobile,proofing_tier,given_name,family_name"


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def app(engine: Engine, record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    record = record_audit
    def context() -> PeopleContext:
        people, records, registry = SqlPersonStore(engine), SqlProofingStore(engine), SimulatedRegistry()
        proofing = ProofingService(people, records, registry, registry, record, clock=lambda: NOW)
        return PeopleContext(people=people, proofing=proofing, records=records, imports=SqlPeopleImport(engine),
                             audit=record, clock=lambda: NOW)

    return build_app(context)


def run(app: typer.Typer, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def count_people(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(PersonRow)).scalar_one()


# add / show / verify-in-person ---------------------------------------------------------------------


def test_add_then_show(app: typer.Typer, audit: list) -> None:
    added = run(app, "add", "--national-code", "۰۰۱۲۳۴۵۶۷۹", "--given-name", "سارا", "--family-name", "احمدی",
                "--birthdate", "1369/01/01", "--mobile", "0912 123 4567")
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("created person ")
    assert f"idp people activate --national-code {CODE}" in added.stdout  # how they get a password
    assert audit[-1][0] == "person.created"

    shown = run(app, "show", "--national-code", CODE, "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["national_code"] == CODE and view["given_name"] == "سارا"
    assert (view["birthdate"], view["birthdate_jalali"]) == ("1990-03-21", "1369/01/01")
    assert (view["mobile"], view["mobile_verified"], view["proofing_tier"]) == ("+989121234567", False, 1)
    assert view["has_password"] is False and view["proofing"] is None

    plain = run(app, "show", "--national-code", CODE)
    assert plain.exit_code == 0
    # Aligned as every `show` is: the values start in one column.
    lines = dict(line.split(maxsplit=1) for line in plain.stdout.splitlines())
    assert (lines["proofing_tier"], lines["has_password"], lines["proofing"]) == ("1", "no", "-")
    starts = {len(line) - len(line.split(maxsplit=1)[1]) for line in plain.stdout.splitlines()}
    assert len(starts) == 1


def test_add_stores_names_with_persian_yeh_and_kaf(app: typer.Typer, engine: Engine) -> None:
    added = run(app, "add", "--national-code", CODE, "--given-name", "علي", "--family-name", "كريمى")
    assert added.exit_code == 0, added.output
    person = SqlPersonStore(engine).get_by_national_code(CODE)
    assert (person.given_name, person.family_name) == ("علی", "کریمی")


def test_show_never_prints_the_password_hash(app: typer.Typer, engine: Engine) -> None:
    run(app, "add", "--national-code", CODE, "--given-name", "S", "--family-name", "A")
    people = SqlPersonStore(engine)
    people.set_password_hash(people.get_by_national_code(CODE).id, "$argon2id$v=19$secret-hash", NOW)
    for args in (("--json",), ()):
        shown = run(app, "show", "--national-code", CODE, *args)
        assert shown.exit_code == 0
        assert "argon2" not in shown.output and "secret-hash" not in shown.output
    assert json.loads(run(app, "show", "--national-code", CODE, "--json").stdout)["has_password"] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--national-code", "0012345678"), 2, "not a valid national code"),
        (("--national-code", CODE, "--birthdate", "1402/12/30"), 2, "Persian calendar"),
        (("--national-code", CODE, "--mobile", "02112345678"), 2, "mobile"),
        (("--national-code", CODE, "--tier", "4"), 2, ""),
    ],
)
def test_add_rejects_bad_input(app: typer.Typer, engine: Engine, args, code, message) -> None:
    result = run(app, "add", "--given-name", "S", "--family-name", "A", *args)
    assert result.exit_code == code and message in result.output
    assert count_people(engine) == 0


def test_add_twice_fails(app: typer.Typer) -> None:
    run(app, "add", "--national-code", CODE, "--given-name", "S", "--family-name", "A")
    again = run(app, "add", "--national-code", CODE, "--given-name", "S", "--family-name", "A")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_show_unknown_person(app: typer.Typer) -> None:
    result = run(app, "show", "--national-code", CODE)
    assert result.exit_code == 1 and "no person" in result.stderr


def test_verify_in_person(app: typer.Typer, audit: list) -> None:
    run(app, "add", "--national-code", CODE, "--given-name", "S", "--family-name", "A")
    result = run(app, "verify-in-person", "--national-code", CODE, "--operator", "op-42",
                 "--document", "idcard:0012345679")
    assert result.exit_code == 0, result.output
    assert "proofing tier 3" in result.stdout
    view = json.loads(run(app, "show", "--national-code", CODE, "--json").stdout)
    assert view["proofing_tier"] == 3
    assert view["proofing"] == {"tier": 3, "method": "in_person", "trust_framework": "ir_civil_registry",
                                "verified_at": NOW.isoformat(), "operator": "op-42"}
    assert audit[-1][0] == "proofing.tier_raised"


def test_verify_in_person_errors(app: typer.Typer) -> None:
    unknown = run(app, "verify-in-person", "--national-code", CODE, "--operator", "op", "--document", "passport:X1")
    assert unknown.exit_code == 1 and "no person" in unknown.stderr
    run(app, "add", "--national-code", CODE, "--given-name", "S", "--family-name", "A")
    bad = run(app, "verify-in-person", "--national-code", CODE, "--operator", "op", "--document", "visa:123")
    assert bad.exit_code == 2 and "type:number" in bad.stderr


# import --------------------------------------------------------------------------------------------

BAD_ROWS = {  # line number -> (row, expected message fragment)
    7: ("0012345678,1369/01/01,09121234567,1,,", "national_code"),
    120: (f"{make_national_code('900000120')},1402/12/30,09121234567,1,,", "birth_date"),
    2500: (f"{make_national_code('900002500')},1990-01-01,02112345678,1,,", "mobile"),
    4001: (f"{make_national_code('900004001')},1990-01-01,09121234567,7,,", "proofing_tier"),
    4999: (f"{make_national_code('900004999')},1990-01-01", "fields"),
}


def generated_csv(path: Path, rows: int = 5000) -> Path:
    """`rows` data rows (lines 2..rows+1) in mixed formats, with the bad rows of BAD_ROWS."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER + "\n")
        for line in range(2, rows + 2):
            if line in BAD_ROWS:
                f.write(BAD_ROWS[line][0] + "\n")
                continue
            code = make_national_code(f"{100000000 + line:09d}")
            born = date(1950, 1, 1).toordinal() + rng.randrange(20000)
            day = date.fromordinal(born)
            birth = (jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d") if line % 2 else day.isoformat())
            mobile = f"0912{line:07d}" if line % 3 else f"+98 935 {line:07d}"
            name = "علی" if line % 5 else ""
            f.write(f"{code},{birth},{mobile},{1 + line % 3},{name},کریمی\n")
    return path


def test_import_csv_counts_bad_rows_and_is_idempotent(app: typer.Typer, engine: Engine, tmp_path: Path,
                                                      audit: list) -> None:
    file = generated_csv(tmp_path / "people.csv")
    first = run(app, "import", file, "--json", "--batch-size", "700")
    assert first.exit_code == 1, first.output  # some rows were rejected
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 4995, "updated": 0, "unchanged": 0, "rejected": 5}
    assert [e["line"] for e in summary["errors"]] == sorted(BAD_ROWS)
    for error in summary["errors"]:
        assert BAD_ROWS[error["line"]][1] in error["error"]
    assert "line 2500: mobile:" in first.stderr
    assert count_people(engine) == 4995
    assert audit[-1] == ("people.imported", {"file": "people.csv", "created": 4995, "updated": 0,
                                             "unchanged": 0, "rejected": 5})

    again = run(app, "import", file)
    assert again.exit_code == 1
    assert again.stdout.strip() == "created 0, updated 0, unchanged 4995, rejected 5"
    assert count_people(engine) == 4995


def test_import_stores_normalized_values_without_passwords(app: typer.Typer, engine: Engine,
                                                           tmp_path: Path) -> None:
    file = tmp_path / "one.csv"
    file.write_text(f"{HEADER}\n12345679,۱۳۶۹/۰۱/۰۱,۰۹۱۲ ۱۲۳ ۴۵۶۷,2,سارا,احمدی\n", encoding="utf-8")
    assert run(app, "import", file).exit_code == 0
    view = json.loads(run(app, "show", "--national-code", CODE, "--json").stdout)
    assert (view["national_code"], view["birthdate"], view["mobile"], view["mobile_verified"]) == (
        CODE, "1990-03-21", "+989121234567", False)
    assert (view["proofing_tier"], view["given_name"], view["has_password"]) == (2, "سارا", False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM password_credentials")).scalar_one() == 0


def test_import_updates_only_what_differs(app: typer.Typer, engine: Engine, tmp_path: Path) -> None:
    other = make_national_code("002345671")
    verified = make_national_code("003456712")
    first = tmp_path / "first.csv"
    first.write_text(f"{HEADER}\n{CODE},1990-03-21,09121234567,1,Sara,Ahmadi\n"
                     f"{other},1985-07-10,09121111111,2,Ali,Karimi\n"
                     f"{verified},1978-11-02,09122222222,2,Maryam,Hosseini\n", encoding="utf-8")
    assert run(app, "import", first).exit_code == 0
    people = SqlPersonStore(engine)
    people.set_mobile(people.get_by_national_code(CODE).id, "+989121234567", verified=True)

    second = tmp_path / "second.csv"
    second.write_text(f"{HEADER}\n"
                      f"{CODE},,,1,,\n"  # empty fields keep stored values
                      f"{other},1985-07-10,09123333333,1,Ali,Karimi\n"  # new mobile; tier never lowered
                      f"{verified},1978-11-03,09122222222,2,Maryam,Hosseini\n", encoding="utf-8")
    result = run(app, "import", second, "--json")
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["rejected"]) == (0, 1, 1, 1)
    assert summary["errors"] == [{"line": 4, "error": "birth_date differs from the identity-verified record;"
                                                      " row not applied"}]
    sara = people.get_by_national_code(CODE)
    assert (sara.birthdate, sara.mobile, sara.mobile_verified, sara.given_name) == (
        date(1990, 3, 21), "+989121234567", True, "Sara")
    ali = people.get_by_national_code(other)
    assert (ali.mobile, ali.mobile_verified, ali.proofing_tier) == ("+989123333333", False, 2)


def test_import_repeated_code_applies_rows_in_order(app: typer.Typer, engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "twice.csv"
    file.write_text(f"{HEADER}\n{CODE},1990-03-21,09121234567,1,Sara,Ahmadi\n"
                    f"{CODE},1990-03-21,09129999999,1,Sara,Ahmadi\n", encoding="utf-8")
    summary = json.loads(run(app, "import", file, "--json").stdout)
    assert (summary["created"], summary["updated"]) == (1, 1)
    assert SqlPersonStore(engine).get_by_national_code(CODE).mobile == "+989129999999"


def test_import_jsonl(app: typer.Typer, engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "people.jsonl"
    lines = [json.dumps({"national_code": make_national_code(f"{200000000 + i:09d}"), "birth_date": "1370/05/05",
                         "mobile": f"0935{i:07d}", "proofing_tier": 1 + i % 2, "given_name": "رضا"},
                        ensure_ascii=False) for i in range(300)]
    lines[9] = json.dumps({"national_code": "123", "birth_date": None, "mobile": None, "proofing_tier": 1})
    lines[19] = "{not json"
    lines[29] = "[1, 2]"
    lines.insert(40, "")
    lines[49] = json.dumps({"national_code": CODE, "birth_date": None, "mobile": None, "proofing_tier": 1,
                            "password": "hunter22"})
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = run(app, "import", file, "--json", "--batch-size", "64")
    summary = json.loads(first.stdout)
    assert (summary["created"], summary["rejected"]) == (296, 4)
    assert [e["line"] for e in summary["errors"]] == [10, 20, 30, 50]
    assert "never imported" in summary["errors"][-1]["error"]
    assert SqlPersonStore(engine).get_by_national_code(CODE) is None

    again = json.loads(run(app, "import", file, "--format", "jsonl", "--json").stdout)
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (0, 0, 296, 4)


def test_import_refuses_a_password_column(app: typer.Typer, engine: Engine, tmp_path: Path) -> None:
    file = tmp_path / "with-passwords.csv"
    file.write_text(f"{HEADER},password\n{CODE},1990-03-21,09121234567,1,S,A,hunter22\n", encoding="utf-8")
    result = run(app, "import", file)
    assert result.exit_code == 2
    assert "passwords are never imported" in result.stderr and "first sign-in" in result.stderr
    assert count_people(engine) == 0


def test_import_refuses_a_jsonl_file_starting_with_a_password(app: typer.Typer, engine: Engine,
                                                             tmp_path: Path) -> None:
    file = tmp_path / "with-passwords.jsonl"
    file.write_text(json.dumps({"national_code": CODE, "birth_date": None, "mobile": None, "proofing_tier": 1,
                                "password_hash": "$2y$..."}) + "\n", encoding="utf-8")
    result = run(app, "import", file)
    assert result.exit_code == 2 and "passwords are never imported" in result.stderr
    assert count_people(engine) == 0


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("national_code,birth_date,mobile", "missing column(s): proofing_tier"),
        ("national_code,birth_date,mobile,proofing_tier,email", "unknown column(s): email"),
    ],
)
def test_import_refuses_a_bad_header(app: typer.Typer, tmp_path: Path, header: str, message: str) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(f"{header}\n", encoding="utf-8")
    result = run(app, "import", file)
    assert result.exit_code == 2 and message in result.stderr
