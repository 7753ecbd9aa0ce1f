from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import typer
from joserfc.jwk import ECKey
from sqlalchemy import Engine, text
from typer.testing import CliRunner, Result

from clients.registry import ClientRegistry
from clients.store_sql import SqlClientStore
from idp.cli.clients import build_app


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def app(engine: Engine, record_audit: Callable[[str, Mapping[str, object]], None]) -> typer.Typer:
    # A fresh registry per command, as the real CLI builds one per process.
    record = record_audit
    return build_app(lambda: ClientRegistry(SqlClientStore(engine), audit=record))


def run(app: typer.Typer, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def create_tax(app: typer.Typer, *extra: str) -> Result:
    return run(app, "create", "--client-id", "tax-portal", "--name", "Tax portal",
               "--redirect-uri", "https://tax.example/cb", "--redirect-uri", "https://tax.example/cb2",
               "--scope", "openid", "--scope", "profile", *extra)


def secret_in(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("client_secret:"))
    return line.split(":", 1)[1].strip()


def test_create_prints_secret_once_and_stores_only_its_hash(app: typer.Typer, engine: Engine) -> None:
    result = create_tax(app)
    assert result.exit_code == 0, result.output
    secret = secret_in(result.stdout)
    assert "cannot be shown again" in result.stdout
    with engine.connect() as conn:
        assert secret not in str(conn.execute(text("SELECT * FROM clients")).all())
    for verb in (["show", "tax-portal"], ["show", "tax-portal", "--json"], ["list"], ["list", "--json"]):
        out = run(app, *verb).stdout
        assert secret not in out and "secret_hash" not in out
        with engine.connect() as conn:
            stored_hash = conn.execute(text("SELECT secret_hash FROM clients")).scalar_one()
        assert stored_hash not in out
    registry = ClientRegistry(SqlClientStore(engine))
    assert registry.get("tax-portal").check_client_secret(secret)  # type: ignore[union-attr]


def test_create_json_parses(app: typer.Typer, audit: list) -> None:
    result = create_tax(app, "--json", "--grant-type", "authorization_code", "--min-level", "2")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["client"]["client_id"] == "tax-portal" and body["client"]["min_level"] == 2
    assert body["client"]["grant_types"] == ["authorization_code"]
    assert body["client"]["has_secret"] is True and "secret_hash" not in body["client"]
    assert len(body["client_secret"]) >= 43 and "shown only once" in body["note"]
    assert audit == [("client.created", {"client_id": "tax-portal"})]


def test_private_key_jwt_from_jwks_file_has_no_secret(app: typer.Typer, tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    result = run(app, "create", "--client-id", "backend", "--name", "Back end",
                 "--auth-method", "private_key_jwt",
                 "--grant-type", "client_credentials", "--jwks-file", str(jwks_file),
                 "--audience", "https://api.example", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["client_secret"] is None and body["client"]["jwks"]["keys"][0]["kty"] == "EC"


def test_list_and_show_tables(app: typer.Typer) -> None:
    assert "No clients" in run(app, "list").stdout
    create_tax(app)
    listing = run(app, "list")
    assert listing.exit_code == 0
    header = listing.stdout.splitlines()[0].split()
    assert header == ["CLIENT_ID", "NAME", "AUTH", "GRANTS", "LEVEL", "ENABLED"]
    assert "tax-portal" in listing.stdout
    shown = run(app, "show", "tax-portal")
    assert "https://tax.example/cb2" in shown.stdout and "client_secret_basic" in shown.stdout
    assert [c["client_id"] for c in json.loads(run(app, "list", "--json").stdout)] == ["tax-portal"]


def test_update_replaces_lists_and_clears(app: typer.Typer) -> None:
    create_tax(app, "--audience", "https://api.example")
    result = run(app, "update", "tax-portal", "--redirect-uri", "http://127.0.0.1:8080/cb", "--alg", "RS256",
                 "--clear", "audience", "--backchannel-logout-uri", "https://tax.example/logout", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["redirect_uris"] == ["http://127.0.0.1:8080/cb"] and body["audiences"] == []
    assert body["id_token_signed_response_alg"] == "RS256"
    assert body["backchannel_logout_uri"] == "https://tax.example/logout"


def test_frontchannel_logout_and_consent_flags(app: typer.Typer) -> None:
    result = create_tax(app, "--frontchannel-logout-uri", "https://tax.example/fc", "--require-consent",
                        "--backchannel-logout-session-required", "no", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)["client"]
    assert body["frontchannel_logout_uri"] == "https://tax.example/fc" and body["require_consent"] is True
    assert body["backchannel_logout_session_required"] is False
    assert body["frontchannel_logout_session_required"] is True
    shown = run(app, "show", "tax-portal").stdout
    assert "frontchannel_logout_uri" in shown and "https://tax.example/fc" in shown
    assert re.search(r"^require_consent\s+yes$", shown, re.MULTILINE), shown

    # An update that names none of these flags leaves them alone.
    body = json.loads(run(app, "update", "tax-portal", "--name", "Tax", "--json").stdout)
    assert body["require_consent"] is True and body["backchannel_logout_session_required"] is False
    result = run(app, "update", "tax-portal", "--trusted", "--clear", "frontchannel-logout-uri",
                 "--frontchannel-logout-session-required", "no", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["require_consent"] is False and body["frontchannel_logout_uri"] is None
    assert body["frontchannel_logout_session_required"] is False
    assert json.loads(run(app, "show", "tax-portal", "--json").stdout) == body


def test_a_client_is_trusted_unless_told_otherwise(app: typer.Typer) -> None:
    body = json.loads(create_tax(app, "--json").stdout)["client"]
    assert body["require_consent"] is False and body["frontchannel_logout_uri"] is None


def test_a_frontchannel_logout_uri_with_a_fragment_is_refused(app: typer.Typer) -> None:
    result = create_tax(app, "--frontchannel-logout-uri", "https://tax.example/fc#top")
    assert result.exit_code == 2
    assert "frontchannel_logout_uri" in result.stderr and "fragment" in result.stderr


def test_rotate_secret_prints_a_new_working_secret(app: typer.Typer, engine: Engine, audit: list) -> None:
    old = secret_in(create_tax(app).stdout)
    result = run(app, "rotate-secret", "tax-portal")
    assert result.exit_code == 0 and "cannot be shown again" in result.stdout
    new = secret_in(result.stdout)
    client = ClientRegistry(SqlClientStore(engine)).get("tax-portal")
    assert client is not None and client.check_client_secret(new) and not client.check_client_secret(old)
    body = json.loads(run(app, "rotate-secret", "tax-portal", "--json").stdout)
    assert body["client_id"] == "tax-portal" and body["client_secret"] not in (old, new)
    assert all(old not in repr(e) and new not in repr(e) for e in audit)


def test_disable_and_enable(app: typer.Typer, engine: Engine) -> None:
    secret = secret_in(create_tax(app).stdout)
    assert json.loads(run(app, "disable", "tax-portal", "--json").stdout)["enabled"] is False
    assert "no" in run(app, "list").stdout.splitlines()[1].split()
    assert not ClientRegistry(SqlClientStore(engine)).get("tax-portal").check_client_secret(secret)  # type: ignore[union-attr]
    assert "enabled" in run(app, "enable", "tax-portal").stdout
    assert ClientRegistry(SqlClientStore(engine)).get("tax-portal").check_client_secret(secret)  # type: ignore[union-attr]


def test_delete_asks_unless_yes(app: typer.Typer) -> None:
    create_tax(app)
    refused = run(app, "delete", "tax-portal", input="n\n")
    assert refused.exit_code == 1 and "tax-portal" in run(app, "list").stdout
    confirmed = run(app, "delete", "tax-portal", input="y\n")
    assert confirmed.exit_code == 0 and "No clients" in run(app, "list").stdout
    create_tax(app)
    assert json.loads(run(app, "delete", "tax-portal", "--yes", "--json").stdout) == {
        "client_id": "tax-portal", "deleted": True,
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "--name", "X", "--redirect-uri", "http://evil.example/cb"], 2, "redirect_uris"),
        (["create", "--name", "X", "--client-id", "a b", "--redirect-uri", "https://x.example/cb"],
         2, "client_id"),
        (["create", "--name", "X", "--grant-type", "implicit"], 2, "grant_types"),
        (["create", "--name", "X", "--redirect-uri", "https://x.example/cb", "--min-level", "7"],
         2, "min_level"),
        (["create", "--name", "X", "--auth-method", "private_key_jwt", "--grant-type", "client_credentials"],
         2, "jwks"),
        (["create", "--name", "X", "--auth-method", "private_key_jwt",
          "--jwks-file", "/nonexistent/jwks.json"],
         2, "--jwks-file"),
        (["show", "nobody"], 1, "no client 'nobody'"),
        (["update", "nobody", "--name", "Y"], 1, "no client 'nobody'"),
        (["update", "tax-portal"], 2, "nothing to change"),
        (["update", "tax-portal", "--clear", "name"], 2, "--clear"),
        (["rotate-secret", "nobody"], 1, "no client 'nobody'"),
        (["disable", "nobody"], 1, "no client 'nobody'"),
        (["delete", "nobody", "--yes"], 1, "no client 'nobody'"),
        (["create", "--client-id", "tax-portal", "--name", "Dup", "--redirect-uri", "https://x.example/cb"],
         1, "already exists"),
    ],
)
def test_bad_input_gives_one_line_and_an_exit_code(
    app: typer.Typer, args: list[str], code: int, message: str
) -> None:
    create_tax(app)
    result = run(app, *args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.output


def test_invalid_jwks_file_content(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "jwks.json"
    bad.write_text("{not json")
    result = run(app, "create", "--name", "X", "--auth-method", "private_key_jwt",
                 "--grant-type", "client_credentials", "--jwks-file", str(bad))
    assert result.exit_code == 2 and "not valid JSON" in result.stderr
    bad.write_text(json.dumps({"keys": [{"kty": "EC", "d": "x"}]}))
    result = run(app, "create", "--name", "X", "--auth-method", "private_key_jwt",
                 "--grant-type", "client_credentials", "--jwks-file", str(bad))
    assert result.exit_code == 2 and "jwks:" in result.stderr


def test_fapi2_pairwise_client_from_the_command_line(app: typer.Typer, tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    refused = create_tax(app, "--profile", "fapi2")
    assert refused.exit_code == 2 and "private_key_jwt" in refused.output
    created = create_tax(app, "--profile", "fapi2", "--auth-method", "private_key_jwt", "--jwks-file",
                         str(jwks_file), "--subject-type", "pairwise", "--json")
    assert created.exit_code == 0, created.output
    client = json.loads(created.stdout)["client"]
    assert client["profile"] == "fapi2" and client["subject_type"] == "pairwise"
    assert client["require_pushed_authorization_requests"] and client["dpop_bound_access_tokens"]
    shown = run(app, "show", "tax-portal").stdout
    assert re.search(r"^profile\s+fapi2$", shown, re.M) and re.search(r"^subject_type\s+pairwise$", shown, re.M)
    many_hosts = run(app, "update", "tax-portal", "--redirect-uri", "https://a.example/cb",
                     "--redirect-uri", "https://b.example/cb")
    assert many_hosts.exit_code == 2 and "sector_identifier_uri" in many_hosts.output
    cleared = run(app, "update", "tax-portal", "--clear", "profile", "--no-require-dpop", "--json")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout)["profile"] is None


def test_names_in_both_languages_and_the_clients_pages_from_the_command_line(app: typer.Typer) -> None:
    created = create_tax(app, "--name-fa", "سامانه مالیاتی", "--name-en", "Tax portal",
                         "--logo-uri", "https://tax.example/logo.svg", "--policy-uri", "https://tax.example/privacy",
                         "--tos-uri", "https://tax.example/terms", "--client-uri", "https://tax.example/",
                         "--contact", "ops@tax.example", "--contact", "security@tax.example")
    assert created.exit_code == 0, created.output
    assert "name_fa" in created.stdout and "سامانه مالیاتی" in created.stdout
    shown = json.loads(run(app, "show", "tax-portal", "--json").stdout)
    assert (shown["name_fa"], shown["logo_uri"], shown["tos_uri"]) == (
        "سامانه مالیاتی", "https://tax.example/logo.svg", "https://tax.example/terms")
    assert shown["contacts"] == ["ops@tax.example", "security@tax.example"]
    assert run(app, "update", "tax-portal", "--contact", "ops@localhost").exit_code == 2
    plain_http = run(app, "update", "tax-portal", "--logo-uri", "http://tax.example/logo.svg")
    assert plain_http.exit_code == 2 and "logo_uri" in plain_http.output
    cleared = run(app, "update", "tax-portal", "--clear", "name-fa", "--clear", "logo-uri", "--clear", "contact",
                  "--json")
    assert cleared.exit_code == 0, cleared.output
    after = json.loads(cleared.stdout)
    assert after["name_fa"] is None and after["logo_uri"] is None and after["name_en"] == "Tax portal"
    assert after["contacts"] == []


def test_a_scope_nobody_defined_is_refused_with_the_nearest_known_one(app: typer.Typer) -> None:
    typo = create_tax(app, "--scope", "opneid")
    assert typo.exit_code == 2
    assert "'opneid' is not a known scope; did you mean 'openid'?" in typo.output
    assert "--new-scope opneid" in typo.output
    assert run(app, "list").stdout.strip() == "No clients."  # nothing registered

    assert create_tax(app).exit_code == 0
    added = run(app, "update", "tax-portal", "--new-scope", "tax.inquiry", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["scopes"] == ["openid", "profile", "tax.inquiry"]
    # Once a client has it, another may be registered for it without --new-scope.
    other = run(app, "create", "--client-id", "customs", "--name", "Customs", "--redirect-uri",
                "https://customs.example/cb", "--scope", "openid", "--scope", "tax.inquiry", "--json")
    assert other.exit_code == 0, other.output
    far = run(app, "update", "customs", "--scope", "zzzzqqq")
    assert far.exit_code == 2 and "'zzzzqqq' is not a known scope. To define" in far.output



def test_rotate_secret_with_grace_keeps_the_old_one_working_for_the_hours_given(app: typer.Typer,
                                                                             engine: Engine) -> None:
    old = secret_in(create_tax(app).stdout)
    rotated = run(app, "rotate-secret", "tax-portal", "--grace", "24", "--json")
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.stdout)["client_secret"]
    client = ClientRegistry(SqlClientStore(engine)).get("tax-portal")
    assert client is not None and client.check_client_secret(old) and client.check_client_secret(new)
    shown = json.loads(run(app, "show", "tax-portal", "--json").stdout)
    assert shown["old_secret_works_until"] is not None and "previous_secret_hash" not in shown
    assert old not in run(app, "show", "tax-portal").stdout
    too_long = run(app, "rotate-secret", "tax-portal", "--grace", "1000")
    assert too_long.exit_code == 2 and "grace" in too_long.output
    now = run(app, "rotate-secret", "tax-portal")
    assert "the old secret no longer works" in now.stdout
    client = ClientRegistry(SqlClientStore(engine)).get("tax-portal")
    assert client is not None and not client.check_client_secret(old) and not client.check_client_secret(new)
def test_the_providers_own_console_client_cannot_be_changed_or_shadowed(engine: Engine) -> None:
    from clients.services import ServiceCatalogue, SqlServiceStore
    from idp.audit import AuditLog
    from idp.cli.main import _client_registry
    from idp.settings import Settings

    settings = Settings(issuer="https://idp.example", database_url=str(engine.url))

    def registry() -> ClientRegistry:
        return _client_registry(settings, engine, AuditLog(engine))

    app = build_app(registry, lambda: ServiceCatalogue(registry(), SqlServiceStore(engine)))
    assert "idp-office-console" not in run(app, "list").stdout
    shown = json.loads(run(app, "show", "idp-office-console", "--json").stdout)
    assert shown["redirect_uris"] == ["https://idp.example/office/callback"]
    for args in (["update", "idp-office-console", "--name", "Mine"], ["disable", "idp-office-console"],
                 ["rotate-secret", "idp-office-console"], ["delete", "idp-office-console", "--yes"],
                 ["services", "add", "idp-office-console", "--scope", "office.x", "--min-level", "1"]):
        result = run(app, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "part of the identity provider" in result.stderr and "Traceback" not in result.output
    taken = run(app, "create", "--client-id", "idp-office-console", "--name", "Shadow",
                "--redirect-uri", "https://evil.example/cb")
    assert taken.exit_code == 1 and "already exists" in taken.stderr

