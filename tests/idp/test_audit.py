"""The audit log (`idp.audit`): who did what, when and from where, in the database, newest first,
and never a secret, a token or a national code; its hash chains show any event changed, deleted,
inserted or reordered in the database (`idp.audit_verify`)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from idp.audit import CHAINS, GENESIS, AuditLog, canonical, event_hash, moment, row_hash
from idp.audit_verify import Break, Report, export, verify
from tests.clock import Clock
from tests.idp.account.helpers import NEW_PASSWORD, post_form, sign_in_at
from tests.idp.audit_tampering import EVENTS, a_chain_of, change_detail, delete, forge, shift_from, swap_sequences
from tests.idp.conftest import PASSWORD, Idp, submit_login
from tests.idp.flows import user_tokens


def test_an_event_is_kept_with_its_time_subjects_and_detail(engine: Engine) -> None:
    clock = Clock(datetime(2031, 3, 21, 8, 30, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    audit.record("login.succeeded", actor="person", person_id="p-1", client_id="portal", ip="203.0.113.9",
                 detail={"acr": "urn:idp:loa:2", "amr": ["pwd", "otp"]})
    (event,) = audit.recent()
    assert (event.kind, event.actor, event.person_id, event.client_id, event.ip) == (
        "login.succeeded", "person", "p-1", "portal", "203.0.113.9")
    assert event.detail == {"acr": "urn:idp:loa:2", "amr": ["pwd", "otp"]}
    assert event.at.replace(tzinfo=UTC) == clock.now


def test_recent_is_newest_first_and_filters_by_kind(engine: Engine) -> None:
    clock = Clock(datetime(2031, 1, 1, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    for n in range(5):
        audit.record("login.failed" if n % 2 else "login.succeeded", person_id="p-1", detail={"n": n})
        clock.advance(60)
    assert [e.detail["n"] for e in audit.recent()] == [4, 3, 2, 1, 0]
    assert [e.detail["n"] for e in audit.recent(kind="login.failed")] == [3, 1]
    assert [e.detail["n"] for e in audit.recent(limit=2)] == [4, 3]


def test_a_person_sees_only_their_own_events_newest_first(engine: Engine) -> None:
    clock = Clock(datetime(2031, 1, 1, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    audit.record("login.succeeded", person_id="p-1", detail={"n": 1})
    clock.advance(3600)
    audit.record("login.succeeded", person_id="p-2", detail={"n": 2})
    audit.record("client.created", actor="operator", client_id="portal")
    # Recorded later, but it happened earlier (the clock): the page orders by time.
    audit.record("login.failed", person_id="p-1", detail={"n": 3})
    clock.now -= timedelta(days=1)
    audit.record("password.changed", person_id="p-1", detail={"n": 4})
    assert [(e.kind, e.detail["n"]) for e in audit.for_person("p-1")] == [
        ("login.failed", 3), ("login.succeeded", 1), ("password.changed", 4)]
    assert len(audit.for_person("p-1", limit=1)) == 1
    assert audit.for_person("nobody") == []


def test_a_domain_package_records_through_a_sink_as_its_actor(engine: Engine) -> None:
    audit = AuditLog(engine)
    sink = audit.sink("cli:clients")
    sink("client.created", {"client_id": "portal", "name": "Tax portal"})
    sink.many([("mandate.granted", {"person_id": "p-1", "entity": "e-1"}),
               ("mandate.granted", {"person_id": "p-2", "entity": "e-1"})])
    sink.many([])
    events = audit.recent()
    assert [(e.kind, e.actor, e.person_id, e.client_id) for e in events] == [
        ("mandate.granted", "cli:clients", "p-2", None),
        ("mandate.granted", "cli:clients", "p-1", None),
        ("client.created", "cli:clients", None, "portal"),
    ]
    # The batch is one moment: recorded in one transaction.
    assert events[0].at == events[1].at


def test_no_password_token_secret_or_national_code_reaches_the_log(idp: Idp) -> None:
    """A day of a citizen and a portal: sign-ins failed and succeeded, tokens issued, refreshed and
    introspected, the password changed. Every audit row, serialized, is free of their secrets."""
    browser = idp.new_browser()
    r = browser.get("/account")
    login = browser.get(r.headers["location"])
    assert submit_login(browser, login.text, idp.national_code, "a wrong guess 1234").status_code == 400
    tokens = user_tokens(idp)
    refreshed = idp.oauth().refresh_token(f"{idp.services.settings.issuer}/token",
                                          refresh_token=tokens["refresh_token"])
    idp.browser.post("/introspect", auth=("portal", idp.portal_secret), data={"token": tokens["access_token"]})
    sign_in_at(browser, idp.national_code)
    assert post_form(browser, "/account/password", current_password=PASSWORD,
                     new_password=NEW_PASSWORD).status_code == 303

    events = idp.services.audit.recent(limit=1000)
    kinds = {e.kind for e in events}
    assert {"login.failed", "password.changed"} <= kinds and len(events) >= 4
    logged = json.dumps([[e.kind, e.actor, e.person_id, e.client_id, e.ip, e.detail] for e in events])
    secrets = [PASSWORD, NEW_PASSWORD, "a wrong guess 1234", idp.national_code, idp.portal_secret,
               tokens["access_token"], tokens["refresh_token"], tokens["id_token"], refreshed["access_token"],
               refreshed["refresh_token"]]
    assert [s[:12] for s in secrets if s in logged] == []


# --- The hash chains (tamper evidence) --------------------------------------------------------


def _chains(engine: Engine) -> dict[int, list[Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(EVENTS).where(EVENTS.c.chain.is_not(None))
                            .order_by(EVENTS.c.chain, EVENTS.c.seq)).all()
    chains: dict[int, list[Any]] = {}
    for row in rows:
        chains.setdefault(row.chain, []).append(row)
    return chains


def _only_break(report: Report) -> Break:
    assert not report.intact
    (found,) = report.breaks
    return found


def test_every_event_is_chained_and_an_untouched_log_verifies(engine: Engine) -> None:
    clock = Clock(datetime(2031, 3, 21, 8, 30, 0, 123456, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    for n in range(40):
        audit.record("login.succeeded", person_id=f"p-{n % 7}", client_id="portal", ip="203.0.113.9",
                     detail={"n": n, "amr": ["pwd"], "نام": "آزمون", "ratio": 0.1})
        clock.advance(0.001)
    audit.sink("registry").many([("mandate.granted", {"person_id": f"p-{n}", "entity": "e-1"}) for n in range(25)])

    chains = _chains(engine)
    assert sum(len(rows) for rows in chains.values()) == 65
    assert len(chains) > 1  # writes spread over the chains
    for chain, rows in chains.items():
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1)), chain
        assert [r.prev_hash for r in rows] == [GENESIS] + [r.hash for r in rows[:-1]]
    # The batch is one run of one chain: recorded under one lock, in one transaction.
    batch = [r for rows in chains.values() for r in rows if r.kind == "mandate.granted"]
    assert len({r.chain for r in batch}) == 1 and len({r.seq for r in batch}) == 25

    report = verify(engine, batch=7)  # several batches per chain
    assert report.intact and report.breaks == []
    assert (report.checked, len(report.chains), report.unchained) == (65, CHAINS, 0)


def test_a_changed_detail_is_named(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 6)
    audit.record("login.succeeded", person_id="p-2")  # other chains stay intact
    victim = rows[3]
    change_detail(engine, victim.id, {"person_id": "p-1", "entity": "e-666", "n": 3})

    found = _only_break(verify(engine))
    assert (found.chain, found.kind, found.event_id, found.seq) == (victim.chain, "changed", victim.id, victim.seq)
    assert found.message == f"chain {victim.chain}: event {victim.id} (sequence {victim.seq}) was changed"


def test_an_edit_with_its_hash_recomputed_is_named(engine: Engine) -> None:
    """A forger who knows the algorithm edits an event and gives it a matching hash: the next event
    no longer follows it."""
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 5)
    victim = rows[1]
    change_detail(engine, victim.id, {"entity": "e-666"})
    with engine.begin() as conn:
        edited = conn.execute(select(EVENTS).where(EVENTS.c.id == victim.id)).one()
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE id = :id"),
                     {"h": row_hash(edited), "id": victim.id})

    found = _only_break(verify(engine))
    assert (found.kind, found.event_id, found.seq) == ("changed", victim.id, victim.seq)
    assert "recomputed" in found.message


def test_a_deleted_event_is_named_by_its_sequence(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 6)
    delete(engine, rows[2].id)

    found = _only_break(verify(engine))
    assert (found.chain, found.kind, found.event_id, found.seq) == (rows[2].chain, "deleted", None, rows[2].seq)
    assert found.message == (f"chain {rows[2].chain}: the event at sequence {rows[2].seq} was deleted "
                             f"(after event {rows[1].id}, before event {rows[3].id})")


def test_deleting_the_last_events_of_a_chain_is_caught_by_its_head(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 6)
    delete(engine, rows[5].id)
    delete(engine, rows[4].id)

    found = _only_break(verify(engine))
    assert (found.kind, found.seq) == ("deleted", rows[4].seq)
    assert found.message.endswith(
        f"the events at sequences {rows[4].seq}-{rows[5].seq} were deleted (after event {rows[3].id})")


def test_a_forged_event_slipped_into_a_chain_is_named(engine: Engine) -> None:
    """Inserted with the right hash after its predecessor, the later events renumbered to make room:
    the event after it still follows its own predecessor, not the forgery."""
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 6)
    shift_from(engine, rows[0].chain, rows[3].seq)
    forged = forge(engine, chain=rows[0].chain, seq=rows[3].seq, prev_hash=rows[2].hash)

    found = _only_break(verify(engine))
    assert (found.chain, found.kind, found.event_id, found.seq) == (rows[0].chain, "inserted", forged, rows[3].seq)
    assert found.message == f"chain {rows[0].chain}: event {forged} (sequence {rows[3].seq}) was inserted"


def test_a_forged_event_after_a_chains_last_one_is_named(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 3)
    forged = forge(engine, chain=rows[0].chain, seq=rows[2].seq + 1, prev_hash=rows[2].hash)

    found = _only_break(verify(engine))
    assert (found.kind, found.event_id, found.seq) == ("inserted", forged, rows[2].seq + 1)
    assert "after the chain's last event" in found.message


def test_a_forged_event_outside_the_chains_is_named(engine: Engine) -> None:
    audit = AuditLog(engine)
    a_chain_of(audit, engine, 3)
    forged = forge(engine, chain=None, seq=None, prev_hash=None)

    report = verify(engine)
    found = _only_break(report)
    assert (found.chain, found.kind, found.event_id) == (None, "inserted", forged)
    assert report.unchained == 1


def test_swapped_events_are_named_as_reordered(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 8)
    swap_sequences(engine, rows[2], rows[5])

    found = _only_break(verify(engine))
    # At the first swapped place stands the later event.
    assert (found.chain, found.kind, found.event_id, found.seq) == (rows[0].chain, "reordered", rows[5].id,
                                                                    rows[2].seq)
    assert found.message == (f"chain {rows[0].chain}: event {rows[5].id} (sequence {rows[2].seq}) was reordered: "
                             f"it was written at sequence {rows[5].seq}")


def test_neighbours_swapped_are_named_as_reordered(engine: Engine) -> None:
    audit = AuditLog(engine)
    rows = a_chain_of(audit, engine, 4)
    swap_sequences(engine, rows[1], rows[2])

    found = _only_break(verify(engine))
    assert (found.kind, found.event_id, found.seq) == ("reordered", rows[2].id, rows[1].seq)


def test_events_from_before_the_chains_are_counted_not_checked(engine: Engine) -> None:
    """Rows written before migration 0017 have no chain: verify says how many there are."""
    for _ in range(3):
        forge(engine, chain=None, seq=None, prev_hash=None, kind="login.failed")
    audit = AuditLog(engine)
    audit.record("login.succeeded", person_id="p-1")
    a_chain_of(audit, engine, 4)

    report = verify(engine)
    assert report.intact
    assert (report.checked, report.unchained) == (5, 3)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_concurrent_writers_keep_every_chain_whole(engine: Engine) -> None:
    """More threads than chains writing at once, single events and batches, through the pool (some
    find every chain held and wait for one): every chain comes out gapless, unforked and verified."""
    audit = AuditLog(engine)
    threads, each = 24, 20

    def write(worker: int) -> None:
        for n in range(each):
            audit.record("login.succeeded", person_id=f"p-{worker}", detail={"n": n})
            if n % 10 == 0:
                audit.record_many([("mandate.granted", {"person_id": f"p-{worker}", "n": n, "k": k})
                                   for k in range(5)], actor="registry")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, range(threads)))

    written = threads * (each + each // 10 * 5)
    report = verify(engine)
    assert report.intact, report.breaks
    assert report.checked == written
    chains = _chains(engine)
    assert sum(len(rows) for rows in chains.values()) == written
    assert len(chains) == CHAINS


def test_export_gives_back_what_was_recorded_with_its_place_in_the_chain(engine: Engine) -> None:
    clock = Clock(datetime(2031, 3, 21, 8, 30, 0, 500, tzinfo=UTC))
    audit = AuditLog(engine, clock=clock)
    recorded = []
    for n in range(9):
        detail = {"n": n, "acr": "urn:idp:loa:2", "نام": "سارا"}
        audit.record("consent.granted", actor="person", person_id=f"p-{n}", client_id="portal", ip="203.0.113.9",
                     detail=detail)
        recorded.append((clock.now, f"p-{n}", detail))
        clock.advance(3600)

    events = list(export(engine, datetime(2031, 3, 21, 9, tzinfo=UTC), datetime(2031, 3, 21, 15, tzinfo=UTC),
                         batch=2))
    assert [(e["at"], e["person_id"], e["detail"]) for e in events] == [
        (moment(at), person, detail) for at, person, detail in recorded[1:7]]
    for e in events:
        assert (e["kind"], e["actor"], e["client_id"], e["ip"]) == ("consent.granted", "person", "portal",
                                                                    "203.0.113.9")
        # Everything a log store needs to recompute the hash.
        encoded = canonical(chain=e["chain"], seq=e["sequence"], at=datetime.fromisoformat(e["at"]), kind=e["kind"],
                            actor=e["actor"], person_id=e["person_id"], client_id=e["client_id"], ip=e["ip"],
                            detail=e["detail"])
        assert event_hash(e["prev_hash"], encoded) == e["hash"]
    assert len(list(export(engine, datetime(2031, 3, 21, tzinfo=UTC)))) == 9
