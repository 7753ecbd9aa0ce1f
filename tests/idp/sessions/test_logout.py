"""Log in once, log out once: every way a session ends reaches every client that was in it.

Two agency portals share one browser session. Portal A drives RP-initiated logout; portal B has a
back-channel logout endpoint (a real HTTP server on loopback) and learns of the logout from a logout
token we sign (checked with joserfc), and its refresh token stops working. Portal C registered a
front-channel logout URL, loaded in a frame on the signed-out page.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.testclient import TestClient
from typer.testing import CliRunner

from idp.services import Services
from idp.sessions.logout_token import BACKCHANNEL_LOGOUT_EVENT
from idp.web.app import create_app
from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import ISSUER, PASSWORD, Idp, sign_in
from tests.relying_party import RelyingParty

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster

SIGNED_OUT = "https://portal.example/signed-out"
B_REDIRECT = "https://agency-b.example/callback"
C_REDIRECT = "https://agency-c.example/callback"
C_FRONTCHANNEL = "https://agency-c.example/frontchannel-logout"


class Portal:
    """One relying party: Authlib's client, talking to the app over the ASGI transport."""

    def __init__(self, idp: Idp, client_id: str, secret: str | None, redirect_uri: str,
                 scope: str = "openid offline_access") -> None:
        self.idp, self.client_id = idp, client_id
        self.oauth = idp.oauth(client_id, client_secret=secret, redirect_uri=redirect_uri, scope=scope)
        self.verifier = "w" * 64

    def url(self, **extra: str) -> str:
        url, _ = self.oauth.create_authorization_url(f"{ISSUER}/authorize", code_verifier=self.verifier,
                                                     nonce="n", **extra)
        return url

    def sign_in(self, browser: TestClient | None = None, national_code: str | None = None) -> dict[str, object]:
        browser = browser or self.idp.browser
        location = sign_in(browser, self.url(), national_code or self.idp.national_code).headers["location"]
        return dict(self.oauth.fetch_token(f"{ISSUER}/token", authorization_response=location,
                                           code_verifier=self.verifier))

    def prompt_none(self, browser: TestClient | None = None) -> str:
        location = (browser or self.idp.browser).get(self.url(prompt="none")).headers["location"]
        query = parse_qs(urlparse(location).query)
        return query["error"][0] if "error" in query else "code"

    def refresh(self, token: dict[str, object]) -> httpx.Response:
        return self.idp.browser.post("/token", auth=(self.client_id, self.oauth.client_secret), data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]})


def _claims(idp: Idp, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    return dict(jwt.decode(token, keys).claims)


@pytest.fixture
def portals(idp: Idp, rp: RelyingParty) -> tuple[Portal, Portal]:
    secret = idp.add_client("agency-b", redirect_uris=[B_REDIRECT], grant_types=["authorization_code", "refresh_token"],
                            scopes=["openid", "offline_access"], backchannel_logout_uri=rp.url())
    # Portal A asks for no refresh token: its access token is on no record but its sid.
    return Portal(idp, "portal", idp.portal_secret, "https://portal.example/callback", scope="openid"), \
        Portal(idp, "agency-b", secret, B_REDIRECT)


def _rp_logout(idp: Idp, id_token: str, browser: TestClient | None = None) -> httpx.Response:
    return (browser or idp.browser).get("/end_session?" + urlencode({
        "id_token_hint": id_token, "post_logout_redirect_uri": SIGNED_OUT, "state": "bye"}))


def test_logout_at_one_portal_signs_out_of_the_other_and_tells_it_by_back_channel(
    idp: Idp, portals: tuple[Portal, Portal], rp: RelyingParty
) -> None:
    a, b = portals
    token_a = a.sign_in()
    token_b = b.sign_in()  # single sign-on: no second password
    sid = _claims(idp, str(token_b["id_token"]))["sid"]
    assert b.prompt_none() == "code"
    assert idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token_a['access_token']}"}).status_code \
        == 200

    r = _rp_logout(idp, str(token_a["id_token"]))
    assert r.status_code == 302 and r.headers["location"] == SIGNED_OUT + "?state=bye"
    assert b.prompt_none() == "login_required"
    refreshed = b.refresh(token_b)
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # Every access token of the session is dead too, also one issued without a refresh token.
    for token in (token_a, token_b):
        info = idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert info.status_code == 401
    introspected = idp.browser.post("/introspect", auth=("portal", idp.portal_secret),
                                    data={"token": token_a["access_token"]})
    assert introspected.json() == {"active": False}

    report = idp.services.deliverer.deliver_due()
    assert report.delivered == 1 and len(rp.requests) == 1
    sent = rp.requests[0]
    assert sent.method == "POST" and sent.headers["content-type"] == "application/x-www-form-urlencoded"
    keys = KeySet.import_key_set(idp.browser.get("/jwks").json())
    token = jwt.decode(sent.token, keys)
    assert token.header["typ"] == "logout+jwt"
    claims = token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == "agency-b" and claims["sub"] == idp.person_id
    assert claims["sid"] == sid and claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert "nonce" not in claims and claims["jti"] and claims["iat"] <= time.time() + 5


def test_front_channel_logout_frames_every_client_that_registered_one(idp: Idp) -> None:
    secret = idp.add_client("agency-c", redirect_uris=[C_REDIRECT], scopes=["openid"],
                            frontchannel_logout_uri=C_FRONTCHANNEL)
    a = Portal(idp, "portal", idp.portal_secret, "https://portal.example/callback")
    c = Portal(idp, "agency-c", secret, C_REDIRECT)
    token_a = a.sign_in()
    sid = _claims(idp, str(c.sign_in()["id_token"]))["sid"]

    page = _rp_logout(idp, str(token_a["id_token"]))
    assert page.status_code == 200
    frame = re.search(r'<iframe src="([^"]+)"', page.text)
    assert frame is not None
    url = urlparse(frame.group(1).replace("&amp;", "&"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == C_FRONTCHANNEL
    assert parse_qs(url.query) == {"iss": [ISSUER], "sid": [sid]}
    assert "frame-src https://agency-c.example" in page.headers["content-security-policy"]
    # The person still gets back to portal A, after the frames.
    assert f'href="{SIGNED_OUT}?state=bye"' in page.text
    assert a.prompt_none() == "login_required"


def test_same_person_signing_in_again_keeps_the_session_another_person_ends_it(
    idp: Idp, portals: tuple[Portal, Portal], rp: RelyingParty
) -> None:
    a, b = portals
    b.sign_in()
    first = _claims(idp, str(a.sign_in()["id_token"]))["sid"]
    # prompt=login: the same person proves their password again; portal B is not logged out.
    location = sign_in(idp.browser, a.url(prompt="login"), idp.national_code).headers["location"]
    again = dict(a.oauth.fetch_token(f"{ISSUER}/token", authorization_response=location, code_verifier=a.verifier))
    assert _claims(idp, str(again["id_token"]))["sid"] == first
    assert b.prompt_none() == "code"
    assert idp.services.outbox.deliveries() == []

    other = make_national_code("005566778")
    person = new_person(other, "Ali", "Rezaei", now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    sign_in(idp.browser, a.url(prompt="login"), other)
    [queued] = idp.services.outbox.deliveries()
    assert queued.client_id == "agency-b" and queued.sid == first and queued.person_id == idp.person_id


def test_an_idle_session_expires_and_the_sweep_tells_its_clients(
    idp: Idp, rp: RelyingParty
) -> None:
    settings = idp.services.settings.model_copy(update={"session_idle_timeout": 1, "session_touch_interval": 0})
    svc = Services.build(settings, store=idp.services.store, engine=idp.services.engine)
    browser = TestClient(create_app(settings, services=svc), base_url=ISSUER, follow_redirects=False)
    short = Idp(svc, browser, browser._transport, idp.national_code, idp.person_id, idp.portal_secret)
    secret = short.add_client("agency-b", redirect_uris=[B_REDIRECT], scopes=["openid"],
                              backchannel_logout_uri=rp.url())
    b = Portal(short, "agency-b", secret, B_REDIRECT)
    b.sign_in()
    assert b.prompt_none() == "code"  # used: the idle clock starts again
    time.sleep(1.2)
    assert b.prompt_none() == "login_required"
    assert svc.logout.sweep_expired() == 1
    assert svc.logout.sweep_expired() == 0  # ended once
    assert svc.deliverer.deliver_due().delivered == 1 and len(rp.requests) == 1
    [ended] = svc.audit.recent(kind="session.ended")
    assert ended.detail["reason"] == "expired"


def test_operator_signs_a_person_out_everywhere_from_the_command_line(
    sqlite_idp: Idp, rp: RelyingParty, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idp.cli.main import app as cli

    idp = sqlite_idp
    secret = idp.add_client("agency-b", redirect_uris=[B_REDIRECT], scopes=["openid"],
                            backchannel_logout_uri=rp.url())
    b = Portal(idp, "agency-b", secret, B_REDIRECT)
    other_browser = idp.new_browser()
    b.sign_in()
    b.sign_in(other_browser)
    settings = idp.services.settings
    monkeypatch.setenv("IDP_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("IDP_KEK", str(settings.kek))
    monkeypatch.setenv("IDP_ISSUER", settings.issuer)

    result = CliRunner().invoke(cli, ["people", "sign-out", "--national-code", idp.national_code,
                                      "--operator", "op-7"])
    assert result.exit_code == 0, result.output
    assert "Ended 2 session(s); notifying agency-b." in result.output
    # The server process learns of it although its session store is its own memory.
    assert b.prompt_none() == "login_required" and b.prompt_none(other_browser) == "login_required"
    assert idp.services.deliverer.deliver_due().delivered == 2
    unknown = CliRunner().invoke(cli, ["people", "sign-out", "--national-code", make_national_code("009988776")])
    assert unknown.exit_code == 1


def test_discovery_advertises_back_and_front_channel_logout(sqlite_idp: Idp) -> None:
    meta = sqlite_idp.browser.get("/.well-known/openid-configuration").json()
    assert meta["backchannel_logout_supported"] is True and meta["backchannel_logout_session_supported"] is True
    assert meta["frontchannel_logout_supported"] is True and meta["frontchannel_logout_session_supported"] is True
    assert meta["end_session_endpoint"] == f"{ISSUER}/end_session"
