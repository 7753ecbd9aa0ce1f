"""`idp clients exchange allow|list|revoke`: token exchange permissions from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from clients.exchange import ExchangePermissions, SqlExchangeStore
from clients.registry import ClientRegistry
from clients.services import ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.cli.clients import build_app


@pytest.fixture
def app(engine: Engine, audit: list[tuple[str, dict[str, object]]],
        record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    def registry() -> ClientRegistry:
        return ClientRegistry(SqlClientStore(engine), cache_ttl=0, audit=record_audit)

    def services() -> ServiceCatalogue:
        return ServiceCatalogue(registry(), SqlServiceStore(engine), audit=record_audit)

    def exchanges() -> ExchangePermissions:
        return ExchangePermissions(registry(), SqlExchangeStore(engine), SqlServiceStore(engine), audit=record_audit)

    app = build_app(registry, services, exchanges)
    for client_id in ("tax-portal", "land-registry"):
        created = run(app, "create", "--client-id", client_id, "--name", client_id, "--grant-type",
                      "client_credentials", "--audience", "https://api.example")
        assert created.exit_code == 0, created.output
    for scope, level in (("land.ownership", "1"), ("land.mortgage", "2")):
        assert run(app, "services", "add", "land-registry", "--scope", scope, "--min-level", level).exit_code == 0
    audit.clear()
    return app


def run(app: typer.Typer, *args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_allow_list_revoke(app: typer.Typer, audit: list) -> None:
    allowed = run(app, "exchange", "allow", "tax-portal", "--audience", "land-registry",
                  "--scope", "land.ownership", "--scope", "land.mortgage")
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout == ("Client tax-portal may exchange a person's token to call land-registry for: "
                              "land.mortgage land.ownership.\n")
    listed = run(app, "exchange", "list")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "CLIENT_ID   AUDIENCE       SCOPE",
        "tax-portal  land-registry  land.mortgage",
        "tax-portal  land-registry  land.ownership",
    ]
    assert run(app, "exchange", "list", "land-registry").stdout == "No exchange permissions.\n"
    revoked = run(app, "exchange", "revoke", "tax-portal", "--audience", "land-registry", "--scope", "land.mortgage")
    assert revoked.exit_code == 0
    assert revoked.stdout == (
        "Client tax-portal may no longer exchange tokens to call land-registry for: land.mortgage.\n")
    assert run(app, "exchange", "revoke", "tax-portal", "--audience", "land-registry").exit_code == 0
    again = run(app, "exchange", "revoke", "tax-portal", "--audience", "land-registry")
    assert again.exit_code == 1
    assert again.stderr == "error: client 'tax-portal' has no exchange permission for 'land-registry'\n"
    assert [kind for kind, _ in audit] == [
        "client.exchange_allowed", "client.exchange_revoked", "client.exchange_revoked"]


def test_json_output(app: typer.Typer) -> None:
    allowed = run(app, "exchange", "allow", "tax-portal", "--audience", "land-registry", "--scope", "land.ownership",
                  "--json")
    assert allowed.exit_code == 0
    assert json.loads(allowed.stdout) == {"client_id": "tax-portal", "audience": "land-registry",
                                          "scopes": ["land.ownership"]}
    listed = json.loads(run(app, "exchange", "list", "tax-portal", "--json").stdout)
    assert listed == [{"client_id": "tax-portal", "audience": "land-registry", "scope": "land.ownership"}]
    revoked = run(app, "exchange", "revoke", "tax-portal", "--audience", "land-registry", "--json")
    assert json.loads(revoked.stdout) == {"client_id": "tax-portal", "audience": "land-registry",
                                          "revoked": ["land.ownership"]}
    assert json.loads(run(app, "exchange", "list", "--json").stdout) == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (("allow", "nobody", "--audience", "land-registry", "--scope", "land.ownership"), 1, "error: no client 'nobody'"),
    (("allow", "tax-portal", "--audience", "nobody", "--scope", "land.ownership"), 1, "error: no client 'nobody'"),
    (("allow", "tax-portal", "--audience", "land-registry", "--scope", "tax.file"), 2,
     "error: invalid exchange permission: scope: 'tax.file' is not one of the services of 'land-registry'"),
    (("allow", "land-registry", "--audience", "land-registry", "--scope", "land.ownership"), 2,
     "error: invalid exchange permission: audience: a client cannot exchange tokens to call itself"),
    (("list", "nobody"), 1, "error: no client 'nobody'"),
    (("revoke", "tax-portal", "--audience", "nobody"), 1, "error: no client 'nobody'"),
])
def test_errors(app: typer.Typer, args: tuple[str, ...], code: int, message: str) -> None:
    result = run(app, "exchange", *args)
    assert result.exit_code == code and result.stderr == message + "\n", result.output


def test_a_scope_is_required_to_allow(app: typer.Typer) -> None:
    result = run(app, "exchange", "allow", "tax-portal", "--audience", "land-registry")
    assert result.exit_code == 2 and "--scope" in result.output
