"""Moving clients between environments with `idp clients export` / `import`, and a portal keeping
the secret it had elsewhere with `idp clients set-secret`: from a SQLite development database into
the `engine` fixture's database (SQLite, then PostgreSQL), as an administrator would."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import typer
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from clients.registry import ClientRegistry
from clients.services import ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.cli.clients import build_app
from idp.storage.database import make_engine
from idp.storage.migrate import upgrade


def run(app: typer.Typer, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def cli(engine: Engine) -> tuple[typer.Typer, Callable[[], ClientRegistry], Callable[[], ServiceCatalogue]]:
    def registry() -> ClientRegistry:
        return ClientRegistry(SqlClientStore(engine), cache_ttl=0)

    def services() -> ServiceCatalogue:
        return ServiceCatalogue(registry(), SqlServiceStore(engine))

    return build_app(registry, services), registry, services


@pytest.fixture
def development(tmp_path: Path) -> Iterator[Engine]:
    """Another environment's database: a SQLite file of its own."""
    url = f"sqlite:///{tmp_path / 'development.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def source(development: Engine) -> tuple[typer.Typer, str]:
    """A development database with a named portal, its two services and a machine client."""
    app, _, _ = cli(development)
    created = run(app, "create", "--client-id", "tax-portal", "--name", "Tax portal", "--name-fa", "سامانهٔ مالیاتی",
                  "--redirect-uri", "https://tax.example/cb", "--scope", "openid", "--scope", "profile",
                  "--policy-uri", "https://tax.example/privacy", "--min-level", "2", "--json")
    assert created.exit_code == 0, created.output
    for scope, level in (("tax.file", "2"), ("tax.refund", "3")):
        assert run(app, "services", "add", "tax-portal", "--scope", scope, "--min-level", level,
                   "--name-en", f"Service {scope}").exit_code == 0
    machine = run(app, "create", "--client-id", "inquiry", "--name", "Inquiry", "--grant-type", "client_credentials",
                  "--new-scope", "inquiry.read", "--json")
    assert machine.exit_code == 0, machine.output
    return app, json.loads(created.stdout)["client_secret"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_then_import_elsewhere_gives_the_same_clients_services_and_secrets(
    source: tuple[typer.Typer, str], development: Engine, engine: Engine, tmp_path: Path, fmt: str,
) -> None:
    app, secret = source
    document = tmp_path / f"clients.{fmt}"
    exported = run(app, "export", "--format", fmt, "--with-secret-hashes", "--output", str(document))
    assert exported.exit_code == 0, exported.output
    target, registry, services = cli(engine)
    imported = run(target, "import", str(document), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout) == {"created": ["inquiry", "tax-portal"], "replaced": []}

    before = ClientRegistry(SqlClientStore(development), cache_ttl=0)
    for client_id in ("tax-portal", "inquiry"):
        old, new = before.existing(client_id), registry().existing(client_id)
        assert replace(new, created_at=None, updated_at=None) == replace(old, created_at=None, updated_at=None)
    assert [(s.scope, s.min_level, s.name_en) for s in services().services_for("tax-portal")] == [
        ("tax.file", 2, "Service tax.file"), ("tax.refund", 3, "Service tax.refund")]
    assert registry().existing("tax-portal").check_client_secret(secret)  # the portal keeps its secret

    again = run(target, "import", str(document))
    assert again.exit_code == 2 and "'inquiry' exists already" in again.output
    replaced = run(target, "import", str(document), "--replace", "--json")
    assert json.loads(replaced.stdout) == {"created": [], "replaced": ["inquiry", "tax-portal"]}


def test_without_the_flag_no_secret_hash_leaves_the_database(source: tuple[typer.Typer, str]) -> None:
    app, _ = source
    document = json.loads(run(app, "export", "tax-portal").stdout)
    assert [c["client_id"] for c in document["clients"]] == ["tax-portal"]
    assert "secret_hash" not in document["clients"][0]
    assert yaml.safe_load(run(app, "export", "--format", "yaml").stdout) == json.loads(run(app, "export").stdout)


def test_a_document_with_one_bad_client_imports_nothing_and_names_the_field(
    source: tuple[typer.Typer, str], engine: Engine, tmp_path: Path,
) -> None:
    app, _ = source
    document = json.loads(run(app, "export").stdout)
    document["clients"][1]["redirect_uris"] = ["http://tax.example/cb"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    target, registry, _ = cli(engine)
    refused = run(target, "import", str(bad))
    assert refused.exit_code == 2
    assert "nothing was imported: clients[1].redirect_uris: 'http://tax.example/cb' must use https" in refused.output
    assert registry().list() == []
    for text, expected in (("{not yaml: [", "neither JSON nor YAML"), ('{"clients": []}', "format: must be"),
                           (json.dumps({**document, "clients": [{**document["clients"][0], "colour": "red"}]}),
                            "clients[0].colour: is not a client field")):
        bad.write_text(text)
        result = run(target, "import", str(bad))
        assert result.exit_code == 2 and expected in result.output, result.output
    assert registry().list() == []


def test_a_portal_moving_here_keeps_its_secret_given_on_standard_input(engine: Engine) -> None:
    app, registry, _ = cli(engine)
    assert run(app, "create", "--client-id", "moved", "--name", "Moved portal", "--redirect-uri",
               "https://moved.example/cb").exit_code == 0
    short = run(app, "set-secret", "moved", input="hunter2\n")
    assert short.exit_code == 2 and "must be 32 to 512 characters" in short.output
    brought = "an-existing-secret-of-the-portal-0123456789"
    done = run(app, "set-secret", "moved", input=brought + "\n")
    assert done.exit_code == 0, done.output
    assert brought not in done.output
    assert registry().existing("moved").check_client_secret(brought)
