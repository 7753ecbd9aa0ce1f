"""`/admin/v1/people`: an operator disabling a person over HTTP is what the citizen meets at sign-in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from authlib.integrations.base_client import OAuthError

from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.admin.operator import actors, operator
from tests.idp.conftest import ISSUER, PASSWORD, Idp, submit_login
from tests.idp.flows import user_tokens


def _login(idp: Idp, password: str = PASSWORD) -> int:
    """Submit the sign-in form once from a new browser; the status code of the answer."""
    browser = idp.new_browser()
    page = browser.get(browser.get("/account").headers["location"])
    return submit_login(browser, page.text, idp.national_code, password).status_code


def test_a_person_disabled_through_the_api_cannot_sign_in_until_enabled(idp: Idp) -> None:
    tokens = user_tokens(idp)
    with operator(idp) as api:
        r = api.post(f"/people/{idp.national_code}/disable")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "disabled" and len(r.json()["sessions_ended"]) == 1
        assert r.json()["clients_notified"] == ["portal"]
        assert api.get(f"/people/{idp.national_code}").json()["status"] == "disabled"
        with pytest.raises(OAuthError):
            idp.oauth().refresh_token(f"{ISSUER}/token", refresh_token=tokens["refresh_token"])
        assert _login(idp) == 400
        r = api.post(f"/people/{idp.national_code}/enable")
        assert r.json() == {"status": "active", "changed": True}
        assert api.post(f"/people/{idp.national_code}/enable").json()["changed"] is False
    assert _login(idp) == 303
    [entry] = idp.services.audit.recent(kind="person.disabled")
    assert entry.actor == "client:ops" and entry.person_id == idp.person_id
    assert actors(idp, "person.enabled") == ["client:ops"]


def test_sign_out_everywhere_ends_the_persons_sessions(idp: Idp) -> None:
    user_tokens(idp)
    with operator(idp) as api:
        r = api.post(f"/people/{idp.national_code}/sign-out")
        assert r.status_code == 200, r.text
        assert len(r.json()["sessions_ended"]) == 1
        assert api.post(f"/people/{idp.national_code}/sign-out").json()["sessions_ended"] == []
    assert idp.services.sessions.register.open_for(idp.person_id, datetime.now(UTC)) == []


def test_get_list_and_search_page_by_national_code(idp: Idp) -> None:
    codes = sorted(make_national_code(f"00700{i:04d}") for i in range(5))
    for code in codes:
        idp.services.people.add(new_person(code, "Ali", "Rezaei", now=datetime.now(UTC)))
    everyone = sorted([*codes, idp.national_code])
    with operator(idp) as api:
        shown = api.get(f"/people/{idp.national_code}").json()
        assert shown["given_name"] == "Sara" and shown["status"] == "active"
        first = api.get("/people", params={"limit": 3}).json()
        assert [p["national_code"] for p in first["people"]] == everyone[:3]
        rest = api.get("/people", params={"after": first["next_after"], "limit": 3}).json()
        assert [p["national_code"] for p in rest["people"]] == everyone[3:6]
        found = api.get("/people", params={"code_prefix": "00700"}).json()
        assert [p["national_code"] for p in found["people"]] == codes and found["next_after"] is None
        api.post(f"/people/{codes[0]}/disable")
        disabled = api.get("/people", params={"status": "disabled"}).json()["people"]
        assert [p["national_code"] for p in disabled] == [codes[0]]
        r = api.get(f"/people/{make_national_code('009999999')}")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = api.get("/people/0071234568")
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"
        assert api.get("/people/12").status_code == 400
        assert api.get("/people", params={"status": "gone"}).status_code == 400
        assert api.get("/people", params={"limit": 0}).status_code == 400
        assert api.get("/people", params={"code_prefix": "abc"}).status_code == 400
        assert api.post("/people/12/disable").status_code == 400


def test_unlock_lifts_the_block_failed_sign_ins_put_on_the_account(make_idp: Callable[..., Idp]) -> None:
    idp = make_idp(login_failures_per_account=3, login_failures_per_account_ip=100, login_failures_before_delay=100)
    for _ in range(3):
        assert _login(idp, "not the password") == 400
    assert _login(idp) == 429
    with operator(idp) as api:
        r = api.post(f"/people/{idp.national_code}/unlock")
    # The API runs inside the provider: it reaches the blocks in its memory as well as in Redis.
    assert r.status_code == 200, r.text
    assert r.json() == {"unlocked": True}
    assert _login(idp) == 303
    assert actors(idp, "person.unlocked") == ["client:ops"]
