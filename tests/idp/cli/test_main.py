"""The `idp` console script itself, run as an operator runs it: a folder with no provider database
gets a clear message and nothing created; with `--json`, every error is one JSON object on stderr
(the command's own errors and click's usage errors alike) with the same exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.backends import postgres_database

IDP = Path(sys.executable).with_name("idp")


def idp(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run([str(IDP), *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=60, check=False)


def test_outside_the_project_folder_it_says_how_to_start_and_creates_nothing(tmp_path: Path) -> None:
    done = idp("clients", "list", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == (
        "error: no provider database at sqlite:///var/idp.db: run `idp init` to create one here, or set"
        " IDP_DATABASE_URL to the provider's database")
    assert list(tmp_path.iterdir()) == []  # no empty var/idp.db left behind


def test_an_empty_postgresql_database_is_named_not_initialised_without_its_password(tmp_path: Path) -> None:
    with postgres_database() as url:
        with_password = make_url(url).set(password="pw-never-shown").render_as_string(hide_password=False)
        done = idp("people", "show", "--national-code", "0012345679", cwd=tmp_path, IDP_DATABASE_URL=with_password)
    assert done.returncode == 1
    assert "the database is not initialised" in done.stderr and "run `idp init`" in done.stderr
    assert "pw-never-shown" not in done.stderr and "***" in done.stderr


def test_with_json_every_error_is_one_json_object_on_stderr_with_the_same_exit_code(tmp_path: Path) -> None:
    missing = idp("clients", "list", "--json", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stdout == ""
    assert json.loads(missing.stderr) == {
        "error": "failed", "detail": "no provider database at sqlite:///var/idp.db: run `idp init` to create one"
                                     " here, or set IDP_DATABASE_URL to the provider's database"}
    assert idp("init", cwd=tmp_path).returncode == 0
    unknown = idp("clients", "show", "nobody", "--json", cwd=tmp_path)
    assert unknown.returncode == 1 and json.loads(unknown.stderr) == {"error": "failed", "detail": "no client 'nobody'"}
    invalid = idp("clients", "create", "--name", "Tax", "--redirect-uri", "http://tax.example/cb", "--json",
                  cwd=tmp_path)
    assert invalid.returncode == 2 and json.loads(invalid.stderr)["error"] == "invalid_input"
    assert "redirect_uris" in json.loads(invalid.stderr)["detail"]
    usage = idp("clients", "create", "--json", "--colour", "blue", cwd=tmp_path)
    assert usage.returncode == 2 and json.loads(usage.stderr)["error"] == "invalid_input"
    assert json.loads(usage.stderr)["detail"].startswith("No such option: --colour")
    plain = idp("clients", "show", "nobody", cwd=tmp_path)
    assert plain.returncode == 1 and plain.stderr.strip() == "error: no client 'nobody'"


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in getattr(group, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_help_fits_80_columns_and_names_values_not_python_types() -> None:
    import typer.main
    from typer.testing import CliRunner

    from idp.cli.main import app

    commands = _commands(typer.main.get_command(app))
    assert ("clients", "services", "add") in commands and len(commands) > 40
    for path in commands:
        shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert shown.exit_code == 0, (path, shown.output)
        too_wide = [line for line in shown.output.splitlines() if len(line) > 80]
        assert too_wide == [], (path, too_wide)
        options = [line for line in shown.output.splitlines() if line.lstrip().startswith("--")]
        assert not [line for line in options if "<str>" in line or "<list[" in line or "<int>" in line], path
