"""`idp people list|search|disable|enable|unlock|remove-factor|sessions`, run against a provider
the test serves through its ASGI app: what the administrator does must be what the citizen meets
(a disabled person cannot sign in or refresh; an unlocked one can sign in again)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pyotp
import pytest
from authlib.integrations.base_client import OAuthError
from typer.testing import CliRunner, Result

from idp.storage.redis import RedisStore
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.backends import REDIS_URL
from tests.idp.conftest import ISSUER, PASSWORD, Idp, submit_login
from tests.idp.flows import user_tokens


@pytest.fixture
def command(idp: Idp, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    return _command_for(idp, monkeypatch)


def _login(idp: Idp, password: str = PASSWORD) -> int:
    """Submit the sign-in form once from a new browser; the status code of the answer."""
    browser = idp.new_browser()
    page = browser.get(browser.get("/account").headers["location"])
    return submit_login(browser, page.text, idp.national_code, password).status_code


def test_list_pages_through_people_in_national_code_order_and_search_finds_a_prefix(
    idp: Idp, command: Callable[..., Result],
) -> None:
    codes = sorted(make_national_code(f"00700{i:04d}") for i in range(5))
    for code in codes:
        idp.services.people.add(new_person(code, "Ali", "Rezaei", now=datetime.now(UTC)))
    first = json.loads(command("people", "list", "--limit", "3", "--json").stdout)
    assert [p["national_code"] for p in first] == sorted([*codes, idp.national_code])[:3]
    rest = json.loads(command("people", "list", "--after", first[-1]["national_code"], "--json").stdout)
    assert [p["national_code"] for p in first + rest] == sorted([*codes, idp.national_code])
    found = command("people", "search", "۰۰۷۰۰")  # Persian digits, as typed on a Persian keyboard
    assert found.exit_code == 0, found.output
    assert [line.split()[0] for line in found.stdout.splitlines()[1:]] == codes
    assert found.stdout.splitlines()[0].split() == ["NATIONAL_CODE", "GIVEN_NAME", "FAMILY_NAME", "TIER", "STATUS",
                                                    "CREATED"]
    assert command("people", "search", "12").exit_code == 2
    assert command("people", "list", "--status", "gone").exit_code == 2


def test_a_disabled_person_cannot_sign_in_or_refresh_until_enabled(idp: Idp, command: Callable[..., Result]) -> None:
    tokens = user_tokens(idp)
    sessions = json.loads(command("people", "sessions", "--national-code", idp.national_code, "--json").stdout)
    assert len(sessions) == 1 and sessions[0]["clients"] == ["portal"]

    disabled = command("people", "disable", "--national-code", idp.national_code, "--operator", "op-7", "--json")
    assert disabled.exit_code == 0, disabled.output
    assert json.loads(disabled.stdout)["sessions_ended"] == [sessions[0]["sid"]]
    with pytest.raises(OAuthError) as refused:
        idp.oauth().refresh_token(f"{ISSUER}/token", refresh_token=tokens["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert _login(idp) == 400  # the same refusal as a wrong password: nothing tells a stranger why
    assert command("people", "sessions", "--national-code", idp.national_code).stdout.strip() == "No open sessions."

    assert command("people", "enable", "--national-code", idp.national_code).stdout.strip() == (
        "The person can sign in again.")
    assert _login(idp) == 303
    kinds = [e.kind for e in idp.services.audit.recent(limit=20)]
    assert "person.disabled" in kinds and "person.enabled" in kinds
    [entry] = idp.services.audit.recent(kind="person.disabled")
    assert entry.actor == "operator:op-7" and entry.person_id == idp.person_id


def test_removing_a_lost_authenticator_app(idp: Idp, command: Callable[..., Result]) -> None:
    idp.services.credentials.set_totp(idp.person_id, pyotp.random_base32(), datetime.now(UTC))
    removed = command("people", "remove-factor", "--national-code", idp.national_code, "--factor", "otp")
    assert removed.exit_code == 0, removed.output
    assert not idp.services.credentials.has_totp(idp.person_id)
    assert [e.detail for e in idp.services.audit.recent(kind="factor.removed")] == [{"method": "otp"}]
    again = command("people", "remove-factor", "--national-code", idp.national_code, "--factor", "otp")
    assert again.exit_code == 1 and "has no otp" in again.output
    wrong = command("people", "remove-factor", "--national-code", idp.national_code, "--factor", "pwd")
    assert wrong.exit_code == 2 and "'pwd' is not one of" in wrong.output


def test_unlock_lifts_the_block_failed_sign_ins_put_on_the_account(
    make_idp: Callable[..., Idp], monkeypatch: pytest.MonkeyPatch,
) -> None:
    idp = make_idp(login_failures_per_account=3, login_failures_per_account_ip=100, login_failures_before_delay=100)
    command = _command_for(idp, monkeypatch)
    for _ in range(3):
        assert _login(idp, "not the password") == 400
    assert _login(idp) == 429  # blocked, even with the right password
    unlocked = command("people", "unlock", "--national-code", idp.national_code)
    if not isinstance(idp.services.store, RedisStore):
        # One process's memory: the command cannot reach it, and says so rather than pretend.
        assert unlocked.exit_code == 1 and "IDP_REDIS_URL is not set" in unlocked.output
        return
    assert unlocked.exit_code == 0, unlocked.output
    assert _login(idp) == 303


def _command_for(idp: Idp, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """The `idp` command, configured as the provider is (its database, key and shared store)."""
    from idp.cli.main import app

    settings = idp.services.settings
    monkeypatch.setenv("IDP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDP_KEK", str(settings.kek))
    monkeypatch.setenv("IDP_ISSUER", settings.issuer)
    monkeypatch.setenv("IDP_SMS_OUTBOX", str(settings.sms_outbox))
    if isinstance(idp.services.store, RedisStore):
        monkeypatch.setenv("IDP_REDIS_URL", REDIS_URL)
        monkeypatch.setenv("IDP_REDIS_PREFIX", idp.services.store._prefix)
    return lambda *args: CliRunner().invoke(app, list(args))


def test_a_person_added_from_the_command_line_activates_with_the_code_the_command_texts(
    idp: Idp, command: Callable[..., Result],
) -> None:
    from tests.idp.account.test_activate import outbox, submit_code, submit_password

    code = make_national_code("007123456")
    added = command("people", "add", "--national-code", code, "--given-name", "Maryam", "--family-name", "Karimi",
                    "--mobile", "09121112244", "--json")
    assert added.exit_code == 0, added.output
    sent = command("people", "activate", "--national-code", code, "--lang", "en", "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["sent_to"].endswith("44")
    [message] = [m for m in outbox(idp) if m["to"] == "+989121112244"]
    typed = re.search(r"\d{8}", message["text"]).group(0)  # type: ignore[union-attr]
    browser = idp.new_browser()
    asked = submit_code(browser, code, typed)
    assert asked.status_code == 303, asked.text
    assert submit_password(browser, asked.headers["location"]).status_code == 303
    # With a password, the next activation is refused: /recover is the way.
    again = command("people", "activate", "--national-code", code)
    assert again.exit_code == 1 and "has a password already" in again.output
    no_phone = command("people", "activate", "--national-code", idp.national_code)
    assert no_phone.exit_code == 1
