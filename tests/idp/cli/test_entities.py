from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from idp.cli.entities import build_app
from legal_entities.registry_file import CSV_COLUMNS
from legal_entities.service import LegalEntities
from legal_entities.store_sql import SqlLegalEntitiesStore
from levels.iranian_input import make_national_code, make_national_id

NOW = datetime(2025, 3, 21, 8, 30, tzinfo=UTC)
ACME = make_national_id("1038028479")
BETA = make_national_id("1010000123")
CEO = make_national_code("001234567")
CLERK = make_national_code("123456789")
AGENT = make_national_code("234567891")
HEADER = ",".join(CSV_COLUMNS)
# The CEO with the defaults (every power, and delegate); the accountant may delegate tax.file only.
REGISTRY_CSV = (
    f"{HEADER}\n"
    f"{ACME},Acme,private_joint_stock,active,2,{CEO},ceo,,1403/01/01,2026-03-20\n"
    f"{ACME},Acme,private_joint_stock,active,2,{CLERK},accountant,tax.file delegate,,\n"
    f"{BETA},Beta,llc,active,,,,,,\n"
)


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def app(engine: Engine, record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    # A fresh service per command, as the real CLI builds one per process.
    return build_app(lambda: LegalEntities(SqlLegalEntitiesStore(engine), record_audit, clock=lambda: NOW))


def run(app: typer.Typer, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def as_json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def imported(app: typer.Typer, tmp_path: Path) -> Path:
    path = tmp_path / "registry.csv"
    path.write_text(REGISTRY_CSV, encoding="utf-8")
    result = run(app, "import", path)
    assert result.exit_code == 0, result.output
    return path


def representation_of(app: typer.Typer, national_code: str, *args: str) -> dict[str, object]:
    shown = as_json(run(app, "show", ACME, "--json", *args))
    return next(r for r in shown["representations"] if r["national_code"] == national_code)  # type: ignore[index]


# import ----------------------------------------------------------------------------------------------


def delegate_to_agent(app: typer.Typer, *extra: str) -> Result:
    """The chief executive gives the agent `tax.file` for Acme until the end of 2025."""
    return run(app, "grant", ACME, "--national-code", AGENT, "--role", "employee", "--powers", "tax.file",
               "--until", "2025-12-31", "--by", CEO, *extra)


def test_import_csv_then_json_of_the_same_registry_changes_nothing(app: typer.Typer, tmp_path: Path) -> None:
    csv_path = tmp_path / "registry.csv"
    csv_path.write_text(REGISTRY_CSV, encoding="utf-8")
    first = run(app, "import", csv_path)
    assert first.exit_code == 0, first.output
    assert "Entities: 2 created, 0 updated, 0 unchanged." in first.stdout
    assert "Representations: 2 added, 0 ended, 0 unchanged." in first.stdout
    assert f"{ACME}: ceo {CEO} added" in first.stdout

    json_path = tmp_path / "registry.json"
    json_path.write_text(
        json.dumps(
            {
                "entities": [
                    {
                        "national_id": ACME,
                        "name": "Acme",
                        "type": "private_joint_stock",
                        "status": "active",
                        "min_level": 2,
                        "officers": [
                            {
                                "national_code": CEO,
                                "role": "ceo",
                                "valid_from": "2024-03-20",
                                "valid_until": "1404/12/29",
                            },
                            {"national_code": CLERK, "role": "accountant", "powers": ["delegate", "tax.file"]},
                        ],
                    },
                    {"national_id": BETA, "name": "Beta", "type": "llc", "status": "active", "officers": []},
                ]
            }
        ),
        encoding="utf-8",
    )
    second = as_json(run(app, "import", json_path, "--json"))
    assert second == {
        "entities_created": 0,
        "entities_updated": 0,
        "entities_unchanged": 2,
        "representations_added": 0,
        "representations_ended": 0,
        "representations_unchanged": 2,
        "changes": [],
        "skipped": [],
    }


def test_import_json_lines_ends_an_officer_no_longer_listed(app: typer.Typer, imported: Path, tmp_path: Path) -> None:
    path = tmp_path / "update.txt"
    path.write_text(
        json.dumps(
            {
                "national_id": ACME,
                "name": "Acme",
                "type": "private_joint_stock",
                "min_level": 2,
                "officers": [{"national_code": CLERK, "role": "accountant", "powers": "tax.file delegate"}],
            }
        )
        + "\n"
    )
    report = as_json(run(app, "import", path, "--format", "jsonl", "--json"))
    assert report["representations_ended"] == 1 and report["representations_unchanged"] == 1  # type: ignore[index]
    assert f"{ACME}: ceo {CEO} ended" in report["changes"]  # type: ignore[index]
    shown = as_json(run(app, "show", ACME, "--json"))
    assert [r["role"] for r in shown["representations"]] == ["accountant"]  # type: ignore[index]


def test_a_bad_file_is_refused_with_every_line_and_nothing_is_imported(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(
        f"{HEADER}\n"
        f"{ACME},Acme,t,active,,{CEO},ceo,,,\n"
        f"{BETA},Beta,t,active,,{CLERK},accountant,,,\n"
        f"{BETA},Beta,t,active,,{AGENT},ceo,,1402/12/30,\n",
        encoding="utf-8",
    )
    result = run(app, "import", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 3: powers required for role accountant",
        "line 4: valid_from: There is no day 1402/12/30 in the Persian calendar.",
        "error: 2 problem(s) in registry.csv; nothing was imported",
    ]
    assert as_json(run(app, "list", "--json")) == []
    scripted = run(app, "import", path, "--json")
    assert scripted.exit_code == 1 and scripted.stdout == ""
    assert json.loads(scripted.stderr) == {
        "error": "failed", "detail": "2 problem(s) in registry.csv; nothing was imported",
        "problems": [{"line": 3, "message": "powers required for role accountant"},
                     {"line": 4, "message": "valid_from: There is no day 1402/12/30 in the Persian calendar."}]}


def test_a_bad_json_file_reports_the_entity_line(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(
        '[\n  {"national_id": "' + ACME + '", "name": "Acme", "type": "t", "officers": []},\n'
        '  {"national_id": "12345678901", "name": "Beta", "type": "t", "officers": []}\n]\n'
    )
    result = run(app, "import", path)
    assert result.exit_code == 1
    assert "line 3: national_id: This is not a valid national ID" in result.stderr
    assert "1 problem(s) in registry.json; nothing was imported" in result.stderr
    assert run(app, "list").stdout.strip() == "No entities."


# list / show -----------------------------------------------------------------------------------------


def test_list_and_show(app: typer.Typer, imported: Path) -> None:
    listed = as_json(run(app, "list", "--json"))
    assert [(e["national_id"], e["name"], e["status"], e["min_level"]) for e in listed] == [  # type: ignore[index, union-attr]
        (ACME, "Acme", "active", 2),
        (BETA, "Beta", "active", 1),
    ]
    table = run(app, "list").stdout.splitlines()
    assert table[0].split() == ["NATIONAL_ID", "NAME", "TYPE", "STATUS", "MIN_LEVEL"]
    assert table[1].split() == [ACME, "Acme", "private_joint_stock", "active", "2"]

    shown = as_json(run(app, "show", ACME, "--json"))
    assert shown["entity"]["type"] == "private_joint_stock"  # type: ignore[index]
    ceo = representation_of(app, CEO)
    assert (ceo["role"], ceo["powers"], ceo["source"]) == ("ceo", ["*", "delegate"], "registry")
    # 1403/01/01 to 2026-03-20 inclusive, as days in Tehran.
    assert (ceo["valid_from"], ceo["valid_until"]) == ("2024-03-20", "2026-03-20")
    assert ceo["valid_until_at"] == "2026-03-20T20:30:00+00:00"

    text = run(app, "show", ACME).stdout
    assert "national_id  " + ACME in text and "min_level    2" in text
    assert any(line.split()[1:5] == [CEO, "ceo", "*", "delegate"] for line in text.splitlines()[1:])
    assert "2024-03-20  2026-03-20" in text


def test_show_an_entity_without_representations(app: typer.Typer, imported: Path) -> None:
    result = run(app, "show", BETA.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    assert result.exit_code == 0 and "No representations in force" in result.stdout


def test_show_unknown_or_invalid_entity(app: typer.Typer) -> None:
    unknown = run(app, "show", ACME)
    assert unknown.exit_code == 1 and f"no legal entity with national ID {ACME}" in unknown.stderr
    invalid = run(app, "show", "12345")
    assert invalid.exit_code == 2 and "11 digits" in invalid.stderr


# grant ----------------------------------------------------------------------------------------------


def test_grant_by_an_operator(app: typer.Typer, imported: Path, audit: list) -> None:
    result = run(
        app,
        "grant",
        ACME,
        "--national-code",
        AGENT,
        "--role",
        "customs_agent",
        "--powers",
        "customs.declare; customs.pay",
        "--until",
        "1404/06/31",
        "--operator",
        "op-7",
    )
    assert result.exit_code == 0, result.output
    assert "Granted representation m-" in result.stdout and "through 2025-09-22" in result.stdout
    agent = representation_of(app, AGENT)
    assert (agent["source"], agent["granted_by"], agent["powers"]) == (
        "operator",
        "op-7",
        ["customs.declare", "customs.pay"],
    )
    assert (agent["valid_from"], agent["valid_until"]) == ("2025-03-21", "2025-09-22")
    assert audit[-1][0] == "representation.granted"


def test_grant_by_a_representative_within_their_powers(app: typer.Typer, imported: Path) -> None:
    result = run(
        app,
        "grant",
        ACME,
        "--national-code",
        AGENT,
        "--role",
        "employee",
        "--powers",
        "tax.file",
        "--until",
        "2025-12-31",
        "--by",
        CLERK,
        "--json",
    )
    rep = as_json(result)
    clerk = representation_of(app, CLERK)
    assert (rep["source"], rep["granted_by"], rep["parent_id"]) == ("delegation", CLERK, clerk["id"])  # type: ignore[index]


def test_grant_beyond_the_grantors_powers_is_refused_with_the_reason(app: typer.Typer, imported: Path) -> None:
    result = run(
        app,
        "grant",
        ACME,
        "--national-code",
        AGENT,
        "--role",
        "employee",
        "--powers",
        "tax.file customs.declare",
        "--until",
        "2025-12-31",
        "--by",
        CLERK,
    )
    assert result.exit_code == 1
    assert "delegation refused: You cannot delegate powers you do not hold: customs.declare." in result.stderr
    assert AGENT not in run(app, "show", ACME).stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give exactly one of --operator or --by"),
        (("--operator", "op", "--by", CEO), "give exactly one of --operator or --by"),
        (("--operator", "op", "--until", "1404/13/01"), "There is no day 1404/13/01 in the Persian calendar"),
        (("--by", "0012345678"), "national code: This is not a valid national code"),
    ],
)
def test_grant_rejects_bad_input(app: typer.Typer, imported: Path, extra: tuple[str, ...], message: str) -> None:
    result = run(app, "grant", ACME, "--national-code", AGENT, "--role", "employee", "--powers", "tax.file", *extra)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_grant_rejects_a_bad_role_or_powers(app: typer.Typer, imported: Path) -> None:
    role = run(
        app, "grant", ACME, "--national-code", AGENT, "--role", "Employee", "--powers", "tax.file", "--operator", "op"
    )
    assert role.exit_code == 2 and "--role: 'Employee' is not a role" in role.stderr
    powers = run(
        app, "grant", ACME, "--national-code", AGENT, "--role", "employee", "--powers", " ; ", "--operator", "op"
    )
    assert powers.exit_code == 2 and "--powers: give at least one power" in powers.stderr


def test_grant_for_an_unknown_entity(app: typer.Typer) -> None:
    result = run(
        app, "grant", ACME, "--national-code", AGENT, "--role", "employee", "--powers", "tax.file", "--operator", "op"
    )
    assert result.exit_code == 1 and "no legal entity" in result.stderr


# revoke ---------------------------------------------------------------------------------------------


def test_revoke_cascades_to_delegations(app: typer.Typer, imported: Path) -> None:
    delegated = as_json(
        delegate_to_agent(app, "--json")
    )
    ceo = representation_of(app, CEO)
    result = run(app, "revoke", str(ceo["id"]), "--reason", "left the company", "--operator", "op-7")
    assert result.exit_code == 0, result.output
    assert "Revoked 2 representation(s):" in result.stdout
    assert f"{delegated['id']} (delegated from it)" in result.stdout  # type: ignore[index]
    current = as_json(run(app, "show", ACME, "--json"))
    assert [r["national_code"] for r in current["representations"]] == [CLERK]  # type: ignore[index]
    ended = representation_of(app, AGENT, "--all")
    assert ended["revoked_at"] == NOW.isoformat()
    assert "2025-03-21" in run(app, "show", ACME, "--all").stdout  # the revocation day

    again = run(app, "revoke", str(ceo["id"]))
    assert again.exit_code == 0 and "was already revoked on 2025-03-21" in again.stdout


def test_revoke_an_unknown_representation(app: typer.Typer) -> None:
    result = run(app, "revoke", "m-000000000000")
    assert result.exit_code == 1 and "no representation m-000000000000" in result.stderr


# set-status / set-level ------------------------------------------------------------------------------


def test_set_status_and_level(app: typer.Typer, imported: Path, audit: list) -> None:
    suspended = run(app, "set-status", ACME, "suspended", "--operator", "op-7")
    assert suspended.exit_code == 0 and f"Entity {ACME} (Acme) is now suspended." in suspended.stdout
    assert audit[-1] == (
        "entity.status_changed",
        {"national_id": ACME, "from": "active", "to": "suspended", "by": "op-7"},
    )
    assert [e["national_id"] for e in as_json(run(app, "list", "--status", "suspended", "--json"))] == [ACME]  # type: ignore[index, union-attr]
    assert [e["national_id"] for e in as_json(run(app, "list", "--status", "active", "--json"))] == [BETA]  # type: ignore[index, union-attr]
    # A suspended entity cannot be acted for, so its representatives cannot delegate.
    refused = delegate_to_agent(app)
    assert refused.exit_code == 1 and "Acme is suspended" in refused.stderr

    level = run(app, "set-level", ACME, "3")
    assert level.exit_code == 0 and "now needs level 3" in level.stdout
    assert as_json(run(app, "show", ACME, "--json"))["entity"]["min_level"] == 3  # type: ignore[index]
    assert run(app, "set-level", ACME, "4").exit_code == 2
    assert run(app, "set-status", ACME, "closed").exit_code == 2
    unknown = run(app, "set-status", make_national_id("1020000456"), "active")
    assert unknown.exit_code == 1 and "no legal entity" in unknown.stderr


# the idp command ------------------------------------------------------------------------------------


def test_the_idp_command_has_the_entities_group(engine: Engine, tmp_path: Path, monkeypatch) -> None:
    from idp.cli.main import app as idp_app

    monkeypatch.setenv("IDP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    path = tmp_path / "registry.csv"
    path.write_text(REGISTRY_CSV, encoding="utf-8")
    imported = CliRunner().invoke(idp_app, ["entities", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    listed = CliRunner().invoke(idp_app, ["entities", "list", "--json"])
    assert [e["national_id"] for e in json.loads(listed.stdout)] == [ACME, BETA]
    # Every change is in the audit log, written by the command as `cli`.
    from idp.audit import AuditLog

    events = AuditLog(engine).recent(limit=100)
    kinds = [e.kind for e in events]
    assert kinds.count("entity.created") == 2 and "representation.granted" in kinds
    assert kinds[0] == "legal_entities.imported" and {e.actor for e in events} == {"cli"}
