"""The audit log (`idp.audit`): who did what, when and from where, in the database, newest first,
and never a secret, a token or a national code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from idp.audit import AuditLog
from tests.clock import Clock
from tests.idp.account.helpers import NEW_PASSWORD, post_form, sign_in_at
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
