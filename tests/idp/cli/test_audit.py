"""`idp audit`: verify the hash chains (exit 0 intact, 1 broken, naming the first bad event) and
export events as JSON lines or a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from idp.audit import AuditLog, canonical, event_hash
from idp.cli.audit import build_app
from tests.clock import Clock
from tests.idp.audit_tampering import a_chain_of, change_detail, delete


def _app(engine: Engine) -> typer.Typer:
    return build_app(lambda: engine)


def test_verify_exits_0_on_an_intact_log_and_1_naming_the_first_bad_event(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 5)
    audit.record("login.succeeded", person_id="p-2")
    runner = CliRunner()

    intact = runner.invoke(_app(engine), ["verify"])
    assert intact.exit_code == 0, intact.output
    assert intact.stdout.strip() == "Audit trail intact: 6 event(s) checked in 16 chain(s)."
    assert json.loads(runner.invoke(_app(engine), ["verify", "--json"]).stdout) == {
        "intact": True, "events_checked": 6, "chains": 16, "unchained_events": 0, "breaks": []}

    change_detail(engine, rows[1].id, {"entity": "e-666"})
    delete(engine, rows[3].id)
    broken = runner.invoke(_app(engine), ["verify"])
    assert broken.exit_code == 1
    # The first bad event of the chain: the edit, not the deletion after it.
    assert broken.stdout.splitlines() == [
        f"chain {rows[0].chain}: event {rows[1].id} (sequence {rows[1].seq}) was changed",
        "Audit trail BROKEN in 1 place(s): 2 event(s) checked in 16 chain(s).",
    ]
    as_json = runner.invoke(_app(engine), ["verify", "--json"])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert (report["intact"], report["events_checked"]) == (False, 2)
    assert report["breaks"] == [{"chain": rows[0].chain, "kind": "changed", "sequence": rows[1].seq,
                                 "event_id": rows[1].id, "message": broken.stdout.splitlines()[0]}]


def test_export_writes_json_lines_that_round_trip(engine: Engine) -> None:
    clock = Clock(datetime(2031, 3, 20, 23, 0, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    for n in range(4):
        audit.record("login.succeeded", actor="person", person_id=f"p-{n}", client_id="portal", ip="203.0.113.9",
                     detail={"n": n, "amr": ["pwd"]})
        clock.advance(3600)  # 23:00 on the 20th, then 00:00, 01:00, 02:00 on the 21st
    runner = CliRunner()

    out = runner.invoke(_app(engine), ["export", "--since", "2031-03-21", "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["person_id"], e["at"], e["detail"]) for e in lines] == [
        ("p-1", "2031-03-21T00:00:00.000000Z", {"n": 1, "amr": ["pwd"]}),
        ("p-2", "2031-03-21T01:00:00.000000Z", {"n": 2, "amr": ["pwd"]}),
        ("p-3", "2031-03-21T02:00:00.000000Z", {"n": 3, "amr": ["pwd"]}),
    ]
    for e in lines:
        assert event_hash(e["prev_hash"], canonical(
            chain=e["chain"], seq=e["sequence"], at=datetime.fromisoformat(e["at"]), kind=e["kind"],
            actor=e["actor"], person_id=e["person_id"], client_id=e["client_id"], ip=e["ip"],
            detail=e["detail"])) == e["hash"]

    # --until a date includes that day; a date-time with a zone is converted to UTC.
    until = runner.invoke(_app(engine), ["export", "--since", "2031-03-21T03:30:00+03:30", "--until",
                                         "2031-03-21T01:00:00Z", "--json"])
    assert [json.loads(line)["person_id"] for line in until.stdout.splitlines()] == ["p-1"]
    whole_day = runner.invoke(_app(engine), ["export", "--since", "2031-03-20", "--until", "2031-03-20", "--json"])
    assert [json.loads(line)["person_id"] for line in whole_day.stdout.splitlines()] == ["p-0"]


def test_export_without_json_is_an_aligned_table(engine: Engine) -> None:
    audit = AuditLog(engine, clock=Clock(datetime(2031, 3, 21, 8, 30, tzinfo=UTC)))
    audit.record("login.succeeded", actor="person", person_id="p-1", client_id="portal")
    audit.record("client.created", actor="cli")
    runner = CliRunner()

    out = runner.invoke(_app(engine), ["export", "--since", "2031-03-21"])
    assert out.exit_code == 0, out.output
    header, first, second = out.stdout.splitlines()
    assert header.split() == ["ID", "CHAIN", "SEQ", "AT", "KIND", "ACTOR", "PERSON", "CLIENT", "HASH"]
    assert first.split()[3:8] == ["2031-03-21T08:30:00.000000Z", "login.succeeded", "person", "p-1", "portal"]
    assert second.split()[4:8] == ["client.created", "cli", "-", "-"]
    assert header.index("KIND") == first.index("login.succeeded") == second.index("client.created")
    empty = runner.invoke(_app(engine), ["export", "--since", "2032-01-01"])
    assert empty.stdout == "No audit events in this period.\n"


def test_export_refuses_bad_dates_with_exit_2(sqlite_engine: Engine) -> None:
    runner = CliRunner()
    app = _app(sqlite_engine)
    bad = runner.invoke(app, ["export", "--since", "yesterday", "--json"])
    assert bad.exit_code == 2
    assert json.loads(bad.stderr)["detail"].startswith("--since: not an ISO date or date-time: 'yesterday'")
    assert bad.stdout == ""
    assert runner.invoke(app, ["export", "--since", "2031-02-30"]).exit_code == 2
    backwards = runner.invoke(app, ["export", "--since", "2031-03-21", "--until", "2031-03-01"])
    assert (backwards.exit_code, backwards.stderr) == (2, "error: --until must be after --since\n")
    assert runner.invoke(app, ["export"]).exit_code == 2  # --since is required
