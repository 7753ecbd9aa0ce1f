from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from clients.registry import ClientRegistry
from clients.services import ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.cli.clients import build_app


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def app(engine: Engine, audit: list[tuple[str, dict[str, object]]],
        record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    record = record_audit

    def registry() -> ClientRegistry:
        return ClientRegistry(SqlClientStore(engine), cache_ttl=0, audit=record)

    def services() -> ServiceCatalogue:
        return ServiceCatalogue(registry(), SqlServiceStore(engine), audit=record)

    app = build_app(registry, services)
    created = run(app, "create", "--client-id", "tax-portal", "--name", "Tax portal",
                  "--redirect-uri", "https://tax.example/cb", "--scope", "openid")
    assert created.exit_code == 0, created.output
    audit.clear()
    return app


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_add_list_remove(app: typer.Typer, audit: list) -> None:
    added = run(app, "services", "add", "tax-portal", "--scope", "tax.file", "--min-level", "2", "--max-age", "3600",
                "--name-fa", "تسلیم اظهارنامه", "--name-en", "File a tax return")
    assert added.exit_code == 0, added.output
    assert "tax.file (File a tax return) needs level 2" in added.stdout and "3600 s" in added.stdout
    refund = run(app, "services", "add", "tax-portal", "--scope", "tax.refund", "--min-level", "3",
                 "--profile", "fapi2")
    assert refund.exit_code == 0 and "held to the fapi2 profile" in refund.stdout
    listed = run(app, "services", "list", "tax-portal")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "SCOPE       MIN_LEVEL  MAX_AUTH_AGE  PROFILE  NAME_EN            NAME_FA",
        "tax.file    2          3600          -        File a tax return  تسلیم اظهارنامه",
        "tax.refund  3          -             fapi2    -                  -",
    ]
    unknown = run(app, "services", "add", "tax-portal", "--scope", "tax.x", "--min-level", "1", "--profile", "fapi9")
    assert unknown.exit_code == 2 and "profile" in unknown.output
    shown = json.loads(run(app, "show", "tax-portal", "--json").stdout)
    assert shown["scopes"] == ["openid", "tax.file", "tax.refund"]
    removed = run(app, "services", "remove", "tax-portal", "--scope", "tax.file")
    assert removed.exit_code == 0 and "Removed service tax.file" in removed.stdout
    assert [kind for kind, _ in audit] == [
        "client.updated", "client.service_added", "client.updated", "client.service_added",
        "client.service_removed",
    ]
    assert json.loads(run(app, "show", "tax-portal", "--json").stdout)["scopes"] == [
        "openid", "tax.file", "tax.refund"
    ]


def test_json_output(app: typer.Typer) -> None:
    added = run(app, "services", "add", "tax-portal", "--scope", "tax.file", "--min-level", "2", "--json")
    assert added.exit_code == 0
    service = {"client_id": "tax-portal", "scope": "tax.file", "min_level": 2, "max_auth_age": None, "profile": None,
               "name_fa": None, "name_en": None}
    assert json.loads(added.stdout) == service
    assert json.loads(run(app, "services", "list", "tax-portal", "--json").stdout) == [service]
    removed = run(app, "services", "remove", "tax-portal", "--scope", "tax.file", "--json")
    assert json.loads(removed.stdout) == {"client_id": "tax-portal", "scope": "tax.file", "removed": True}
    assert json.loads(run(app, "services", "list", "tax-portal", "--json").stdout) == []


def test_add_again_changes_the_service(app: typer.Typer) -> None:
    run(app, "services", "add", "tax-portal", "--scope", "tax.file", "--min-level", "2", "--max-age", "60")
    run(app, "services", "add", "tax-portal", "--scope", "tax.file", "--min-level", "3")
    listed = json.loads(run(app, "services", "list", "tax-portal", "--json").stdout)
    assert listed == [
        {"client_id": "tax-portal", "scope": "tax.file", "min_level": 3, "max_auth_age": None, "profile": None,
               "name_fa": None, "name_en": None}]


def test_empty_list(app: typer.Typer) -> None:
    listed = run(app, "services", "list", "tax-portal")
    assert listed.exit_code == 0 and listed.stdout == "Client tax-portal has no services.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "openid", "--min-level", "2"], "invalid service: scope: 'openid' is reserved"),
        (["--scope", "tax file", "--min-level", "2"], "is not a valid scope token"),
        (["--scope", "tax.file", "--min-level", "4"], "invalid service: min_level"),
        (["--scope", "tax.file", "--min-level", "2", "--max-age", "-5"], "invalid service: max_auth_age"),
    ],
)
def test_invalid_input_exits_2_without_traceback(
    app: typer.Typer, audit: list, args: list[str], message: str
) -> None:
    result = run(app, "services", "add", "tax-portal", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert audit == []
    assert json.loads(run(app, "show", "tax-portal", "--json").stdout)["scopes"] == ["openid"]


@pytest.mark.parametrize(
    "args",
    [
        ["services", "add", "tax-portal", "--scope", "tax.file"],
        ["services", "add", "tax-portal", "--scope", "tax.file", "--min-level", "two"],
        ["services", "remove", "tax-portal"],
    ],
)
def test_usage_errors_exit_2(app: typer.Typer, args: list[str]) -> None:
    assert run(app, *args).exit_code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["add", "nobody", "--scope", "tax.file", "--min-level", "2"],
        ["list", "nobody"],
        ["remove", "nobody", "--scope", "tax.file"],
    ],
)
def test_unknown_client_exits_1(app: typer.Typer, args: list[str]) -> None:
    result = run(app, "services", *args)
    assert result.exit_code == 1
    assert result.stderr == "error: no client 'nobody'\n"


def test_removing_a_missing_service_exits_1(app: typer.Typer) -> None:
    result = run(app, "services", "remove", "tax-portal", "--scope", "tax.file")
    assert result.exit_code == 1
    assert result.stderr == "error: client 'tax-portal' has no service 'tax.file'\n"


def test_without_a_catalogue_there_is_no_services_group(engine: Engine) -> None:
    app = build_app(lambda: ClientRegistry(SqlClientStore(engine)))
    assert run(app, "services", "list", "tax-portal").exit_code == 2


def test_help_never_opens_the_database() -> None:
    def unreachable() -> ServiceCatalogue:
        raise AssertionError("opened")

    app = build_app(lambda: unreachable(), unreachable)  # type: ignore[arg-type,return-value]
    result = run(app, "services", "--help")
    assert result.exit_code == 0 and "add" in result.stdout and "remove" in result.stdout
