"""`idp logout`: list the back-channel logout outbox, deliver a pass by hand, retry failures."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from idp.cli.logout import build_app
from tests.backchannel import PERSON, SID, Backchannel, sqlite_only
from tests.clock import Clock
from tests.relying_party import RelyingParty


@pytest.fixture
def bc(engine: Engine) -> Iterator[Backchannel]:
    backchannel = Backchannel.on(engine, Clock())
    yield backchannel
    backchannel.close()


@sqlite_only
def test_cli_lists_pending_and_failed_and_delivers_on_demand(bc: Backchannel, rp: RelyingParty) -> None:
    rp.default = 500
    bc.register("tax", rp.url())
    bc.register("health", rp.url("/health"))
    bc.outbox().enqueue(sid=SID, person_id=PERSON, client_ids=["tax"])
    app: typer.Typer = build_app(lambda: (bc.outbox(), bc.deliverer(max_attempts=1)))
    runner = CliRunner()

    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "CLIENT", "SID", "STATUS", "ATTEMPTS", "NEXT_ATTEMPT", "LAST_ERROR"]
    assert row.split()[1:5] == ["tax", SID, "pending", "0"]

    delivered = runner.invoke(app, ["deliver", "--json"])
    assert delivered.exit_code == 0, delivered.output
    assert json.loads(delivered.stdout) == {"delivered": 0, "retried": 0, "failed": 1}

    failed = runner.invoke(app, ["list", "--status", "failed"])
    assert "tax" in failed.stdout and "failed" in failed.stdout and "HTTP 500" in failed.stdout
    assert "No back-channel" in runner.invoke(app, ["list", "--status", "pending"]).stdout
    [shown] = json.loads(runner.invoke(app, ["list", "--sid", SID, "--json"]).stdout)
    assert (shown["client_id"], shown["status"], shown["attempts"], shown["last_error"]) == ("tax", "failed", 1,
                                                                                             "HTTP 500")

    # After the portal is fixed, an operator reopens the failure and it goes out with the same jti.
    assert runner.invoke(app, ["retry"]).exit_code == 2  # refuses to guess what to reopen
    reopened = runner.invoke(app, ["retry", "--client", "tax"])
    assert reopened.exit_code == 0 and "Reopened 1" in reopened.stdout
    rp.default = 200
    again = runner.invoke(app, ["deliver"])
    assert again.stdout.strip() == "Delivered 1, to retry 0, failed 0."
    assert len(set(rp.jtis())) == 1 and len(rp.requests) == 2
    assert runner.invoke(app, ["list", "--status", "bogus"]).exit_code == 2
