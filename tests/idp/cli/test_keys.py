import json

import pytest
from typer.testing import CliRunner

from idp.cli.keys import build_app
from keys.encryption import KeyEncryptor
from keys.errors import KeyStoreUnavailable
from keys.keyring import KeyRing
from keys.models import KeyState
from keys.store import MemoryKeyStore

runner = CliRunner()


def published(keyring):
    # Assigned first: ruff's SIM118 mistakes `for k in keyring.keys()` for a dict iteration.
    keys = keyring.keys()
    return keys


@pytest.fixture
def keyring():
    kr = KeyRing(MemoryKeyStore(), KeyEncryptor(bytes(32)))
    kr.ensure(["ES256"])
    return kr


@pytest.fixture
def app(keyring):
    return build_app(lambda: keyring)


def test_list_prints_a_table_with_every_key(app, keyring):
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED"]
    assert len(lines) == 3
    for key in published(keyring):
        assert any(key.kid in line and key.state.value in line for line in lines)


def test_list_json(app, keyring):
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["kid"], r["alg"], r["state"]) for r in rows} == {
        (k.kid, k.alg, k.state.value) for k in published(keyring)
    }
    assert set(rows[0]) == {"kid", "alg", "state", "created_at", "activated_at", "retired_at"}


def test_rotate_reports_what_changed(app, keyring):
    before = {k.state: k.kid for k in published(keyring)}
    result = runner.invoke(app, ["rotate", "--alg", "ES256", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    after = {k.state: k.kid for k in published(keyring) if k.state is not KeyState.RETIRED}
    assert report == {
        "alg": "ES256",
        "activated": before[KeyState.NEXT],
        "retired": [before[KeyState.ACTIVE]],
        "removed": [],
        "created_next": after[KeyState.NEXT],
    }


def test_rotate_text_output(app, keyring):
    before = {k.state: k.kid for k in published(keyring)}
    result = runner.invoke(app, ["rotate"])
    assert result.exit_code == 0, result.output
    assert f"retired    {before[KeyState.ACTIVE]}" in result.output
    assert f"activated  {before[KeyState.NEXT]}" in result.output
    assert "new next" in result.output


def test_rotate_rejects_unknown_alg_without_traceback(app):
    result = runner.invoke(app, ["rotate", "--alg", "HS256"])
    assert result.exit_code == 1
    assert "unsupported signing algorithm 'HS256'" in result.output
    assert "Traceback" not in result.output


def test_store_errors_are_a_message_and_exit_1():
    def broken() -> KeyRing:
        raise KeyStoreUnavailable("connection refused")

    result = runner.invoke(build_app(broken), ["list"])
    assert result.exit_code == 1
    assert "error: connection refused" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
