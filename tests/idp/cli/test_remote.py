"""`--server URL`: the client, service, key and people commands done through a
running provider's admin API (served by uvicorn on loopback), as the operator client the settings
name, with the same output as the local commands."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from typer.testing import CliRunner, Result

from idp.cli.main import app
from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from idp.web.app import create_app
from tests.idp.browser.harness import serve
from tests.idp.conftest import Idp, _build, _settings, one_loop


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Idp, str]]:
    """A provider on SQLite served on a loopback port its issuer names."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"issuer": issuer, "background_tasks": False})
    with one_loop(_build(settings, MemoryStore())) as idp, serve(create_app(settings, services=idp.services), sock):
        yield idp, issuer


def _operator(idp: Idp, issuer: str, tmp_path: Path, scopes: list[str]) -> Path:
    key = ECKey.generate_key("P-256", parameters={"kid": "ops-1", "alg": "ES256", "use": "sig"})
    idp.services.clients.create(
        client_id="ops", name="ops", redirect_uris=[], grant_types=["client_credentials"], scopes=scopes,
        audiences=[f"{issuer}/admin/v1"], token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]})
    path = tmp_path / "ops.jwk"
    path.write_text(json.dumps(key.as_dict(private=True)))
    return path


@pytest.fixture
def remote(served: tuple[Idp, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`idp …` with no database of its own (IDP_DATABASE_URL points nowhere), credentials set."""
    idp, issuer = served
    key_file = _operator(idp, issuer, tmp_path, ["idp.admin.clients", "idp.admin.people"])
    monkeypatch.setenv("IDP_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'none.db'}")
    monkeypatch.setenv("IDP_ADMIN_CLIENT_ID", "ops")
    monkeypatch.setenv("IDP_ADMIN_KEY_FILE", str(key_file))
    return lambda *args: CliRunner().invoke(app, [*args[:2], "--server", issuer, *args[2:]])


def test_clients_list_show_and_create_remotely(served: tuple[Idp, str], remote: Callable[..., Result]) -> None:
    idp, _ = served
    listed = remote("clients", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0].split() == ["CLIENT_ID", "NAME", "AUTH", "GRANTS", "LEVEL", "ENABLED"]
    assert any(line.startswith("portal ") for line in listed.stdout.splitlines())
    assert {c["client_id"] for c in json.loads(remote("clients", "list", "--json").stdout)} == {"ops", "portal"}
    shown = remote("clients", "show", "portal", "--json")
    assert json.loads(shown.stdout)["name"] == "Tax portal"
    local = CliRunner().invoke(app, ["clients", "show", "portal"], env={
        "IDP_DATABASE_URL": idp.services.settings.database_url, "IDP_KEK": str(idp.services.settings.kek)})
    assert local.exit_code == 0, local.output
    assert remote("clients", "show", "portal").stdout == local.stdout  # the same view, line for line
    local_json = CliRunner().invoke(app, ["clients", "show", "portal", "--json"], env={
        "IDP_DATABASE_URL": idp.services.settings.database_url, "IDP_KEK": str(idp.services.settings.kek)})
    assert shown.stdout == local_json.stdout
    created = remote("clients", "create", "--name", "Inquiry", "--client-id", "inquiry",
                     "--grant-type", "client_credentials", "--audience", "https://api.example", "--json")
    assert created.exit_code == 0, created.output
    secret = json.loads(created.stdout)["client_secret"]
    r = idp.browser.post("/token", data={"grant_type": "client_credentials"}, auth=("inquiry", secret))
    assert r.status_code == 200, r.text
    [entry] = idp.services.audit.recent(kind="client.created", limit=1)
    assert entry.actor == "client:ops"
    # Errors as the local commands give them: exit 2 for invalid input, 1 for the rest.
    typo = remote("clients", "create", "--name", "Typo", "--scope", "opneid")
    assert typo.exit_code == 2 and "did you mean 'openid'" in typo.output
    missing = remote("clients", "show", "nobody", "--json")
    assert missing.exit_code == 1 and json.loads(missing.stderr)["error"] == "failed"


def test_people_disable_and_enable_remotely(served: tuple[Idp, str], remote: Callable[..., Result]) -> None:
    idp, _ = served
    disabled = remote("people", "disable", "--national-code", idp.national_code, "--json")
    assert disabled.exit_code == 0, disabled.output
    assert json.loads(disabled.stdout) == {"status": "disabled", "sessions_ended": [], "clients_notified": []}
    assert idp.services.people.get(idp.person_id).status == "disabled"  # type: ignore[union-attr]
    enabled = remote("people", "enable", "--national-code", idp.national_code)
    assert enabled.exit_code == 0 and enabled.stdout.strip() == "The person can sign in again."
    assert idp.services.people.get(idp.person_id).status == "active"  # type: ignore[union-attr]
    assert [e.actor for e in idp.services.audit.recent(kind="person.disabled")] == ["client:ops"]
    assert remote("people", "disable", "--national-code", "12").exit_code == 2


def test_without_credentials_or_with_a_wrong_key_it_says_what_is_missing(
        served: tuple[Idp, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    idp, issuer = served
    monkeypatch.delenv("IDP_ADMIN_CLIENT_ID", raising=False)
    r = CliRunner().invoke(app, ["clients", "list", "--server", issuer])
    assert r.exit_code == 2 and "IDP_ADMIN_CLIENT_ID" in r.output
    _operator(idp, issuer, tmp_path, ["idp.admin.clients"])
    other = ECKey.generate_key("P-256", parameters={"kid": "ops-1"})
    (tmp_path / "wrong.jwk").write_text(json.dumps(other.as_dict(private=True)))
    monkeypatch.setenv("IDP_ADMIN_CLIENT_ID", "ops")
    monkeypatch.setenv("IDP_ADMIN_KEY_FILE", str(tmp_path / "wrong.jwk"))
    r = CliRunner().invoke(app, ["clients", "list", "--server", issuer])
    assert r.exit_code == 1 and "invalid_client" in r.output
    r = CliRunner().invoke(app, ["clients", "list", "--server", "http://idp.example.ir"])
    assert r.exit_code == 2 and "https://" in r.output


def test_every_change_to_a_client_remotely(served: tuple[Idp, str], remote: Callable[..., Result]) -> None:
    idp, _ = served
    created = remote("clients", "create", "--name", "Inquiry", "--client-id", "inquiry",
                     "--grant-type", "client_credentials", "--audience", "https://api.example", "--json")
    old = json.loads(created.stdout)["client_secret"]

    def token(secret: str) -> int:
        return idp.browser.post("/token", data={"grant_type": "client_credentials"}, auth=("inquiry", secret)
                                ).status_code

    updated = remote("clients", "update", "inquiry", "--name-fa", "استعلام", "--contact", "ops@api.example", "--json")
    assert updated.exit_code == 0, updated.output
    assert (json.loads(updated.stdout)["name_fa"], json.loads(updated.stdout)["contacts"]) == (
        "استعلام", ["ops@api.example"])
    rotated = remote("clients", "rotate-secret", "inquiry", "--grace", "1", "--json")
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.stdout)["client_secret"]
    assert token(old) == 200 and token(new) == 200  # the grace period, as locally
    assert remote("clients", "disable", "inquiry").stdout.strip() == "Client inquiry is disabled."
    assert token(new) == 401
    assert remote("clients", "enable", "inquiry").exit_code == 0 and token(new) == 200
    assert remote("clients", "delete", "inquiry", "--yes").stdout.strip() == "Deleted client inquiry."
    assert idp.services.clients.get("inquiry") is None
    assert [e.actor for e in idp.services.audit.recent(kind="client.deleted")] == ["client:ops"]


def test_people_sign_out_and_unlock_remotely(served: tuple[Idp, str], remote: Callable[..., Result]) -> None:
    idp, _ = served
    signed_out = remote("people", "sign-out", "--national-code", idp.national_code, "--json")
    assert signed_out.exit_code == 0, signed_out.output
    assert json.loads(signed_out.stdout) == {"sessions_ended": [], "clients_notified": []}
    unlocked = remote("people", "unlock", "--national-code", idp.national_code)
    assert unlocked.exit_code == 0 and "lifted" in unlocked.stdout
    assert [e.actor for e in idp.services.audit.recent(kind="person.unlocked")] == ["client:ops"]


def test_services_and_keys_remotely(served: tuple[Idp, str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    idp, issuer = served
    key_file = _operator(idp, issuer, tmp_path, ["idp.admin.clients", "idp.admin.keys"])
    monkeypatch.setenv("IDP_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'none.db'}")
    monkeypatch.setenv("IDP_ADMIN_CLIENT_ID", "ops")
    monkeypatch.setenv("IDP_ADMIN_KEY_FILE", str(key_file))

    def remote(*args: str) -> Result:
        return CliRunner().invoke(app, [*args, "--server", issuer])

    added = remote("clients", "services", "add", "portal", "--scope", "tax.file", "--min-level", "2",
                   "--name-en", "File a tax return")
    assert added.exit_code == 0, added.output
    assert added.stdout.strip().startswith("Client portal: service tax.file (File a tax return) needs level 2")
    listed = remote("clients", "services", "list", "portal")
    assert listed.stdout.splitlines()[1].split()[:2] == ["tax.file", "2"]
    assert [s.scope for s in idp.services.services.services_for("portal")] == ["tax.file"]
    assert remote("clients", "services", "remove", "portal", "--scope", "tax.file").exit_code == 0
    assert remote("clients", "services", "remove", "portal", "--scope", "tax.file").exit_code == 1
    before = {k.kid for k in idp.services.keyring.keys() if k.state.value == "active"}  # noqa: SIM118
    rotated = remote("keys", "rotate", "--alg", "ES256", "--json")
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["retired"] and set(json.loads(rotated.stdout)["retired"]) <= before
    keys = remote("keys", "list")
    assert keys.exit_code == 0 and keys.stdout.splitlines()[0].split()[:3] == ["KID", "ALG", "STATE"]
    assert [e.actor for e in idp.services.audit.recent(kind="keys.rotated")] == ["client:ops"]


def test_people_list_and_search_remotely_as_locally(served: tuple[Idp, str], remote: Callable[..., Result]) -> None:
    idp, _ = served
    env = {"IDP_DATABASE_URL": idp.services.settings.database_url, "IDP_KEK": str(idp.services.settings.kek)}
    for args in (["people", "list"], ["people", "search", idp.national_code[:4]], ["people", "list", "--json"]):
        here = CliRunner().invoke(app, args, env=env)
        there = remote(*args)
        assert here.exit_code == there.exit_code == 0, (here.output, there.output)
        assert there.stdout == here.stdout and idp.national_code in there.stdout
