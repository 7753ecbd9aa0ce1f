"""What protects people survives the loss of the ephemeral store (docs/design.md, "What may be lost").

The store is really lost: a private `redis-server` (tests/faults.py) is killed and started again
empty under a running app on PostgreSQL; the in-process store is lost the way it is in production,
by the process restarting (a new app on the same SQLite database, the browsers keeping their
cookies). Afterwards: no revoked access token works again, no used client assertion is accepted
again, a signed-in person is still signed in (same session, same factors, same services), a
session ended elsewhere stays ended, and a session that cannot be restored is ended with
back-channel logout to its services — never silently gone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from starlette.testclient import TestClient

from idp.services import Services
from idp.sessions.sso import SessionManager
from idp.storage.migrate import upgrade
from idp.storage.redis import RedisStore
from idp.storage.store import MemoryStore
from idp.storage.tables import AccessTokenRevocationRow, Base, SsoSessionRow, UsedClientAssertionRow
from idp.web.app import create_app
from tests.backends import postgres_database
from tests.faults import redis_server
from tests.idp.account.helpers import post_form as post_account_form
from tests.idp.conftest import ISSUER, REDIRECT_URI, Idp, _build, _settings, pkce_pair, sign_in, submit_step
from tests.idp.flows import assertion_grant, register_signer
from tests.idp.storage.test_store import race
from tests.relying_party import RelyingParty, claims_unverified

L2 = "urn:idp:loa:2"
B_REDIRECT = "https://agency-b.example/callback"


@dataclass
class Lossy:
    """An identity provider whose store can be lost for real."""

    idp: Idp
    lose_store: Callable[[], Idp]  # returns the provider to talk to afterwards

    def after_loss(self, *browsers: TestClient) -> tuple[Idp, list[TestClient]]:
        """Lose the store; the same browsers (cookies kept) now talk to the provider after the loss."""
        idp = self.lose_store()
        carried = []
        for browser in browsers:
            again = idp.new_browser()
            again.cookies.update(browser.cookies)
            carried.append(again)
        return idp, carried


def _restarted(idp: Idp) -> Idp:
    """The process restarts: a new app, with a new in-process store, on the same database."""
    svc = Services.build(idp.services.settings, store=MemoryStore())
    browser = TestClient(create_app(idp.services.settings, services=svc), base_url=ISSUER, follow_redirects=False)
    browser.cookies.update(idp.browser.cookies)
    return Idp(svc, browser, browser._transport, idp.national_code, idp.person_id, idp.portal_secret)


@pytest.fixture(params=["sqlite+memory-restart", "postgres+redis-restart-empty"])
def lossy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lossy]:
    if request.param == "sqlite+memory-restart":
        url = f"sqlite:///{tmp_path / 'idp.db'}"
        upgrade(url)
        idp = _build(_settings(url, tmp_path), MemoryStore())
        engines = [idp.services.engine]

        def restart() -> Idp:
            again = _restarted(idp)
            engines.append(again.services.engine)
            return again

        yield Lossy(idp, restart)
        for engine in engines:
            engine.dispose()
        return
    with postgres_database(migrated=True) as url, redis_server(tmp_path) as server:
        store = RedisStore(server.url, prefix="idp:")
        idp = _build(_settings(url, tmp_path), store)

        def restart_empty() -> Idp:
            server.restart_empty()
            assert store.get("probe") is None  # the app's own client reaches the new, empty server
            return idp

        yield Lossy(idp, restart_empty)
        idp.services.engine.dispose()
        store.close()


# -- helpers: a portal through Authlib's client, the person's browser, the portal's back channel ---

def _authorize_url(client_id: str, redirect_uri: str, challenge: str, scope: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": "st", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{ISSUER}/authorize?{urlencode(params)}"


def _redeem(idp: Idp, location: str, verifier: str, client_id: str = "portal", secret: str | None = None,
            redirect_uri: str = REDIRECT_URI, scope: str = "openid") -> dict[str, object]:
    oauth = idp.oauth(client_id, client_secret=secret, redirect_uri=redirect_uri, scope=scope)
    return dict(oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=verifier))


def _sign_in(idp: Idp, browser: TestClient, client_id: str = "portal", secret: str | None = None,
             redirect_uri: str = REDIRECT_URI, scope: str = "openid", **extra: str) -> dict[str, object]:
    verifier, challenge = pkce_pair()
    r = sign_in(browser, _authorize_url(client_id, redirect_uri, challenge, scope, **extra), idp.national_code)
    return _redeem(idp, r.headers["location"], verifier, client_id, secret, redirect_uri, scope)


def _silently(idp: Idp, browser: TestClient, **extra: str) -> dict[str, object] | str:
    """prompt=none at the portal: the tokens if the person is still signed in, else the error."""
    verifier, challenge = pkce_pair()
    location = browser.get(_authorize_url("portal", REDIRECT_URI, challenge, "openid", prompt="none",
                                          **extra)).headers["location"]
    query = parse_qs(urlparse(location).query)
    if "error" in query:
        return query["error"][0]
    return _redeem(idp, location, verifier)


def _claims(idp: Idp, token: object) -> dict[str, object]:
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    return dict(jwt.decode(str(token), keys).claims)


def _userinfo(idp: Idp, access_token: object) -> int:
    return idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _introspect(idp: Idp, token: object) -> dict[str, object]:
    r = idp.browser.post("/introspect", auth=("portal", idp.portal_secret), data={"token": str(token)})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _agency_b(idp: Idp, rp: RelyingParty) -> str:
    secret = idp.add_client("agency-b", redirect_uris=[B_REDIRECT], grant_types=["authorization_code", "refresh_token"],
                            scopes=["openid", "offline_access"], backchannel_logout_uri=rp.url())
    assert secret
    return secret


# -- revoked access tokens -----------------------------------------------------------------------

def test_revoked_access_tokens_stay_revoked_when_the_store_is_lost(lossy: Lossy) -> None:
    idp = lossy.idp
    revoked = _sign_in(idp, idp.browser, scope="openid offline_access")
    family = _sign_in(idp, idp.browser, scope="openid offline_access", prompt="login")
    kept = _sign_in(idp, idp.browser, prompt="login")
    # One access token revoked by itself, one with its grant (refresh token revoked: RFC 7009 §2.1).
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret),
                         data={"token": revoked["access_token"], "token_type_hint": "access_token"})
    assert r.status_code == 200
    r = idp.browser.post("/revoke", auth=("portal", idp.portal_secret),
                         data={"token": family["refresh_token"], "token_type_hint": "refresh_token"})
    assert r.status_code == 200
    assert _userinfo(idp, revoked["access_token"]) == 401 and _userinfo(idp, family["access_token"]) == 401

    idp, _ = lossy.after_loss()

    for token in (revoked, family):
        assert _userinfo(idp, token["access_token"]) == 401
        assert _introspect(idp, token["access_token"]) == {"active": False}
        assert _userinfo(idp, token["access_token"]) == 401  # and again, now from the store's copy
    # Tokens nobody revoked go on working.
    assert _userinfo(idp, kept["access_token"]) == 200
    assert _introspect(idp, kept["access_token"])["active"] is True


def test_access_tokens_of_an_ended_session_stay_revoked_when_the_store_is_lost(lossy: Lossy) -> None:
    idp = lossy.idp
    tokens = _sign_in(idp, idp.browser)  # no refresh token: the access token is on no record but its sid
    r = idp.browser.get("/end_session?" + urlencode({"id_token_hint": tokens["id_token"]}))
    assert r.status_code in (200, 302, 303)
    assert _userinfo(idp, tokens["access_token"]) == 401

    idp, _ = lossy.after_loss()

    assert _userinfo(idp, tokens["access_token"]) == 401
    assert _introspect(idp, tokens["access_token"]) == {"active": False}


# -- used client assertions ----------------------------------------------------------------------

def test_a_used_client_assertion_is_refused_when_the_store_is_lost(lossy: Lossy) -> None:
    idp = lossy.idp
    form = assertion_grant(register_signer(idp.services.clients), f"{ISSUER}/token")
    assert idp.browser.post("/token", data=form).status_code == 200

    idp, _ = lossy.after_loss()

    replay = idp.browser.post("/token", data=form)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    assert "already used" in replay.json()["error_description"]


# -- SSO sessions --------------------------------------------------------------------------------

def test_a_signed_in_person_stays_signed_in_when_the_store_is_lost(lossy: Lossy, rp: RelyingParty) -> None:
    """Same session (sid), same factors at the same times (the level reached by a step-up holds),
    same services in it (a later logout still reaches them), and no portal is told of a logout."""
    idp = lossy.idp
    idp.set_tier(2)
    b_secret = _agency_b(idp, rp)
    before = _claims(idp, _sign_in(idp, idp.browser, "agency-b", b_secret, B_REDIRECT)["id_token"])
    verifier, challenge = pkce_pair()
    step = idp.browser.get(_authorize_url("portal", REDIRECT_URI, challenge, "openid", acr_values=L2))
    page = idp.browser.get(step.headers["location"])
    assert 'name="method" value="sms"' in page.text
    done = submit_step(idp.browser, page.text, code=idp.last_sms_code())
    location = idp.browser.get(done.headers["location"]).headers["location"]
    stepped = _claims(idp, _redeem(idp, location, verifier)["id_token"])
    assert stepped["acr"] == L2

    idp, (browser,) = lossy.after_loss(idp.browser)

    again = _silently(idp, browser, acr_values=L2)
    assert isinstance(again, dict), f"signed out by the loss of the store: {again}"
    claims = _claims(idp, again["id_token"])
    assert claims["sid"] == before["sid"] and claims["auth_time"] == stepped["auth_time"]
    assert claims["acr"] == L2 and set(claims["amr"]) == {"pwd", "sms", "mfa"}  # type: ignore[arg-type]
    assert browser.get("/account").status_code == 200
    assert idp.services.deliverer.deliver_due().delivered == 0 and rp.requests == []

    # The restored session still knows agency-b: signing out reaches it by back channel.
    r = browser.get("/end_session?" + urlencode({"id_token_hint": again["id_token"]}))
    assert r.status_code in (200, 302, 303)
    assert idp.services.deliverer.deliver_due().delivered == 1
    assert claims_unverified(rp.requests[0].token)["sid"] == before["sid"]


def test_a_session_ended_elsewhere_never_comes_back_when_the_store_is_lost(lossy: Lossy) -> None:
    idp = lossy.idp
    phone, laptop = idp.new_browser(), idp.new_browser()
    sid = _claims(idp, _sign_in(idp, phone)["id_token"])["sid"]
    _sign_in(idp, laptop)
    # From the laptop's account page, the person signs the phone out.
    assert post_account_form(laptop, "/account/sessions/end", sid=str(sid)).status_code == 303
    assert _silently(idp, phone) == "login_required"

    idp, (phone, laptop) = lossy.after_loss(phone, laptop)

    assert _silently(idp, phone) == "login_required"
    assert phone.get("/account").status_code == 303
    assert isinstance(_silently(idp, laptop), dict)  # the other session goes on
    record = idp.services.sessions.register.get(str(sid))
    assert record is not None and record.end_reason == "signed_out"


def test_a_session_the_register_cannot_restore_is_ended_with_back_channel_logout(
    lossy: Lossy, rp: RelyingParty
) -> None:
    """A session opened before the register kept factors cannot go on after the loss: it is ended
    the way every session ends — its services told by back channel, its refresh tokens revoked."""
    idp = lossy.idp
    b_secret = _agency_b(idp, rp)
    tokens = _sign_in(idp, idp.browser, "agency-b", b_secret, B_REDIRECT, scope="openid offline_access")
    sid = str(_claims(idp, tokens["id_token"])["sid"])
    with idp.services.engine.begin() as conn:
        conn.execute(update(SsoSessionRow).where(SsoSessionRow.sid == sid).values(factors=None))

    idp, (browser,) = lossy.after_loss(idp.browser)

    assert _silently(idp, browser) == "login_required"
    assert idp.services.deliverer.deliver_due().delivered == 1
    notice = claims_unverified(rp.requests[0].token)
    assert notice["sid"] == sid and notice["aud"] == "agency-b"
    refreshed = idp.browser.post("/token", auth=("agency-b", b_secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert _userinfo(idp, tokens["access_token"]) == 401
    record = idp.services.sessions.register.get(sid)
    assert record is not None and record.end_reason == "store_lost"
    assert [e.detail["reason"] for e in idp.services.audit.recent(kind="session.ended")] == ["store_lost"]


# -- housekeeping ----------------------------------------------------------------------------------

def test_expired_revocations_and_assertion_ids_are_pruned(lossy: Lossy) -> None:
    idp = lossy.idp
    svc = idp.services
    svc.revocations.revoke(["live"])
    svc.used_assertions.claim("signer", "live", time.time() + 300)
    past = datetime.fromtimestamp(time.time() - 1, UTC)
    with svc.engine.begin() as conn:
        conn.execute(AccessTokenRevocationRow.__table__.insert(), [{"key": "jti:old", "expires_at": past}])
        conn.execute(UsedClientAssertionRow.__table__.insert(), [{"key": "0" * 64, "expires_at": past}])
    svc.prune_expired()
    with svc.engine.connect() as conn:
        assert conn.execute(select(AccessTokenRevocationRow.key)).scalars().all() == ["jti:live"]
        assert len(conn.execute(select(UsedClientAssertionRow.key)).scalars().all()) == 1
    assert svc.used_assertions.claim("signer", "live", time.time() + 300) is False


def test_migration_matches_the_model(lossy: Lossy) -> None:
    with lossy.idp.services.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = ("access_token_revocations", "used_client_assertions", "sso_sessions")
    assert [d for d in diffs if any(t in repr(d) for t in mine)] == []


def test_a_request_that_loaded_the_session_before_it_ended_cannot_bring_it_back(lossy: Lossy) -> None:
    """A request still holding the session when it is ended elsewhere (another worker, the CLI) and
    then recording a service or a use of it must not re-create the copy logout removed."""
    idp = lossy.idp
    sessions = idp.services.sessions
    cookie, session = sessions.start(idp.person_id, "pwd")
    loaded = sessions.load(cookie)
    assert loaded is not None
    assert idp.services.logout.end(session.sid, reason="operator") is not None
    sessions.add_client(cookie, loaded, "portal", acting="self")
    sessions.add_factor(cookie, loaded, "sms")
    assert sessions.load(cookie) is None
    idp, _ = lossy.after_loss()
    assert idp.services.sessions.load(cookie) is None


def test_whom_the_person_acts_as_is_restored_with_the_session(lossy: Lossy) -> None:
    idp = lossy.idp
    sessions = idp.services.sessions
    cookie, session = sessions.start(idp.person_id, "pwd")
    session = sessions.add_client(cookie, session, "portal", acting="mandate-17")
    session = sessions.add_client(cookie, session, "agency-b", acting="self")
    idp, _ = lossy.after_loss()
    restored = idp.services.sessions.load(cookie)
    assert restored is not None
    assert restored.last_seen == pytest.approx(session.last_seen, abs=1e-5)  # the database keeps microseconds
    assert replace(restored, last_seen=session.last_seen) == session
    assert restored.acting == {"portal": "mandate-17", "agency-b": "self"}


def test_a_session_older_than_the_full_register_becomes_restorable_at_its_next_use(lossy: Lossy) -> None:
    idp = lossy.idp
    svc = idp.services
    # A session manager touching at every use, on the provider's own store and register.
    sessions = SessionManager(svc.store, svc.sessions.register, ttl=svc.settings.session_ttl,
                              idle_timeout=svc.settings.session_idle_timeout, touch_interval=0)
    cookie, session = sessions.start(idp.person_id, "pwd")
    session = sessions.add_client(cookie, session, "portal", acting="self")
    with svc.engine.begin() as conn:
        conn.execute(update(SsoSessionRow).where(SsoSessionRow.sid == session.sid).values(factors=None, acting=None))
    session = sessions.seen(cookie, session, ip="192.0.2.7")
    idp, _ = lossy.after_loss()
    restored = idp.services.sessions.load(cookie)
    assert restored is not None and restored.sid == session.sid
    assert restored.factors == session.factors and restored.acting == {"portal": "self"}


def test_concurrent_uses_of_one_assertion_id_have_exactly_one_winner(lossy: Lossy) -> None:
    used = lossy.idp.services.used_assertions
    until = time.time() + 120
    results = race(12, lambda i: used.claim("signer", "same-jti", until))
    assert results.count(True) == 1


def test_an_operator_sign_out_from_another_process_revokes_tokens_at_once(
    sqlite_idp: Idp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`idp people sign-out` runs in its own process, with its own in-process store: the server
    process still refuses the session's access tokens from that moment (the database says so)."""
    from typer.testing import CliRunner

    from idp.cli.main import app as cli

    idp = sqlite_idp
    tokens = _sign_in(idp, idp.browser)
    assert _userinfo(idp, tokens["access_token"]) == 200
    settings = idp.services.settings
    monkeypatch.setenv("IDP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDP_KEK", str(settings.kek))
    monkeypatch.setenv("IDP_ISSUER", settings.issuer)
    result = CliRunner().invoke(cli, ["people", "sign-out", "--national-code", idp.national_code])
    assert result.exit_code == 0, result.output
    assert _userinfo(idp, tokens["access_token"]) == 401
    assert _introspect(idp, tokens["access_token"]) == {"active": False}


def test_checking_a_token_costs_at_most_one_read_of_the_revocations(lossy: Lossy) -> None:
    """The hot path: a token the store knows nothing about costs one primary-key read of the
    revocations table; a revoked one the store has marked costs none."""
    from sqlalchemy import event

    idp = lossy.idp
    tokens = _sign_in(idp, idp.browser)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "access_token_revocations" in statement:
            statements.append(statement)

    event.listen(idp.services.engine, "before_cursor_execute", count)
    try:
        assert _userinfo(idp, tokens["access_token"]) == 200
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
        idp.browser.post("/revoke", auth=("portal", idp.portal_secret), data={"token": tokens["access_token"]})
        statements.clear()
        assert _userinfo(idp, tokens["access_token"]) == 401
        assert _introspect(idp, tokens["access_token"]) == {"active": False}
        assert statements == []
    finally:
        event.remove(idp.services.engine, "before_cursor_execute", count)
