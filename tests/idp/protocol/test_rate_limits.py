"""Rate limits through HTTP: they count the real client address (forged X-Forwarded-For changes
nothing), stop the place guesses come from, and never lock a citizen out of their own browser nor a
portal out of the token endpoint."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import urlencode

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from starlette.testclient import TestClient

from levels.iranian_input import make_national_code
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, ISSUER, LOAD_BALANCER, PASSWORD, REDIRECT_URI, TX_RE, Idp, pkce_pair

# The `idp`/`store` fixtures also run on a 3-primary Redis Cluster (tests/redis_cluster.py): these
# flows are the ephemeral store's busiest users.
pytestmark = pytest.mark.cluster

API = "https://api.example"
CITIZEN_HOME = "192.0.2.44"
ERROR_RE = re.compile(r'class="error"[^>]*>([^<]+)<')


def _browser(idp: Idp, peer: str, forwarded: str | None = None) -> TestClient:
    """A browser whose requests arrive from `peer` (the load balancer or the client itself), with
    `forwarded` as the X-Forwarded-For header the peer sends along."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    browser = TestClient(idp.browser.app, base_url=ISSUER, follow_redirects=False, client=(peer, 50000),
                         headers=headers)
    browser.portal = idp.portal  # the provider's one event loop
    return browser


def _login_form(browser: TestClient) -> str:
    """The sign-in page, asked for with prompt=login so that a browser with a session gets it too."""
    _, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
              "state": "s", "code_challenge": challenge, "code_challenge_method": "S256", "ui_locales": "en",
              "prompt": "login"}
    r = browser.get(f"/authorize?{urlencode(params)}")
    assert r.status_code == 302 and r.headers["location"].startswith("/login?tx="), r.text
    page = browser.get(r.headers["location"])
    assert page.status_code == 200
    return page.text


def _attempt(browser: TestClient, page: str, national_code: str, password: str,
             forwarded: str | None = None) -> httpx.Response:
    csrf, tx = CSRF_RE.search(page), TX_RE.search(page)
    assert csrf and tx
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return browser.post("/login", headers=headers, data={
        "csrf_token": csrf.group(1), "tx": tx.group(1), "national_code": national_code, "password": password})


def _retry_after(r: httpx.Response) -> int:
    assert r.status_code == 429
    seconds = int(r.headers["retry-after"])
    assert seconds > 0
    return seconds


def _codes(count: int, start: int = 100) -> list[str]:
    """National codes no one has (the fixture's person is 001234567x)."""
    return [make_national_code(f"{n:09d}") for n in range(start, start + count)]


# -- client addresses ---------------------------------------------------------------------------

def test_forged_forwarded_for_from_an_untrusted_peer_changes_neither_limit_nor_audit(idp: Idp) -> None:
    attacker = _browser(idp, "198.51.100.7")
    page = _login_form(attacker)
    per_ip = idp.services.settings.login_failures_per_ip
    statuses = []
    for n, code in enumerate(_codes(80)):
        r = _attempt(attacker, page, code, "guess", forwarded=f"203.0.113.{n}, {LOAD_BALANCER}")
        statuses.append(r.status_code)
    assert statuses == [400] * per_ip + [429] * (80 - per_ip)
    _retry_after(r)
    failures = idp.services.audit.recent(kind="login.failed", limit=100)
    assert len(failures) == per_ip and {e.ip for e in failures} == {"198.51.100.7"}


def test_one_account_guessed_from_one_place_is_slowed_whatever_it_forwards(idp: Idp) -> None:
    attacker = _browser(idp, "198.51.100.7")
    page = _login_form(attacker)
    before_delay = idp.services.settings.login_failures_before_delay
    statuses = [_attempt(attacker, page, idp.national_code, "guess", forwarded=f"203.0.113.{n}").status_code
                for n in range(before_delay + 2)]
    assert statuses == [400] * before_delay + [429] * 2
    # The wait holds for the right password too, so guessing cannot go on; it says how long.
    refused = _attempt(attacker, page, idp.national_code, PASSWORD, forwarded="203.0.113.250")
    assert _retry_after(refused) <= idp.services.settings.login_first_delay
    assert "Too many attempts. Try again in 10 minutes." in refused.text


def test_behind_the_load_balancer_citizens_do_not_share_a_limit(idp: Idp) -> None:
    attacker = _browser(idp, LOAD_BALANCER)
    page = _login_form(attacker)
    per_ip = idp.services.settings.login_failures_per_ip
    # What the attacker writes is on the left; the load balancers (two hops) append on the right.
    for n, code in enumerate(_codes(per_ip)):
        r = _attempt(attacker, page, code, "guess", forwarded=f"192.0.2.{n}, 203.0.113.66, 10.9.0.3")
        assert r.status_code == 400
    r = _attempt(attacker, page, _codes(1, start=900)[0], "guess", forwarded=f"{CITIZEN_HOME}, 203.0.113.66")
    _retry_after(r)

    citizen = _browser(idp, LOAD_BALANCER, forwarded=CITIZEN_HOME)
    assert _attempt(citizen, _login_form(citizen), idp.national_code, PASSWORD).status_code == 303
    assert {e.ip for e in idp.services.audit.recent(kind="login.failed", limit=100)} == {"203.0.113.66"}
    assert [e.ip for e in idp.services.audit.recent(kind="login.succeeded")] == [CITIZEN_HOME]


# -- lockouts that cannot lock citizens out ------------------------------------------------------

def _flood(idp: Idp, national_code: str) -> None:
    """Wrong passwords for one account from as many places as it takes to reach the account-wide
    cap (each place stays under its own limits), the citizen's own address among them."""
    attacker = _browser(idp, LOAD_BALANCER)
    page = _login_form(attacker)
    cap = idp.services.settings.login_failures_per_account
    places = [CITIZEN_HOME] + [f"203.0.113.{n}" for n in range(1, cap)]
    for place in places:
        assert _attempt(attacker, page, national_code, "guess", forwarded=place).status_code == 400


def test_the_citizens_known_browser_signs_in_while_their_account_is_flooded(idp: Idp) -> None:
    home = _browser(idp, LOAD_BALANCER, forwarded=CITIZEN_HOME)
    assert _attempt(home, _login_form(home), idp.national_code, PASSWORD).status_code == 303
    _flood(idp, idp.national_code)

    # A new browser is refused, even with the right password, from anywhere...
    for address in ("198.51.100.20", CITIZEN_HOME):
        stranger = _browser(idp, LOAD_BALANCER, forwarded=address)
        _retry_after(_attempt(stranger, _login_form(stranger), idp.national_code, PASSWORD))
    # ...but the browser the citizen signed in with before is not.
    again = _attempt(home, _login_form(home), idp.national_code, PASSWORD)
    assert again.status_code == 303
    # Its sign-in does not reopen the account to new browsers while the flood's window lasts.
    stranger = _browser(idp, LOAD_BALANCER, forwarded="198.51.100.21")
    _retry_after(_attempt(stranger, _login_form(stranger), idp.national_code, PASSWORD))


def test_the_known_browser_gets_in_from_an_address_the_attacker_has_stopped(idp: Idp) -> None:
    """Citizens behind one carrier NAT share an address with whoever guesses from it."""
    home = _browser(idp, "198.51.100.7")
    assert _attempt(home, _login_form(home), idp.national_code, PASSWORD).status_code == 303
    attacker = _browser(idp, "198.51.100.7")
    page = _login_form(attacker)
    per_ip = idp.services.settings.login_failures_per_ip
    for code in [idp.national_code] * 3 + _codes(per_ip - 3):
        assert _attempt(attacker, page, code, "guess").status_code == 400
    _retry_after(_attempt(attacker, page, idp.national_code, PASSWORD))
    assert _attempt(home, _login_form(home), idp.national_code, PASSWORD).status_code == 303


def test_a_known_browsers_own_failures_stop_only_that_browser(idp: Idp) -> None:
    home = _browser(idp, "198.51.100.60")
    assert _attempt(home, _login_form(home), idp.national_code, PASSWORD).status_code == 303
    page = _login_form(home)
    for _ in range(idp.services.settings.login_failures_before_delay):
        assert _attempt(home, page, idp.national_code, "guess").status_code == 400
    _retry_after(_attempt(home, page, idp.national_code, PASSWORD))
    # They were counted against that browser's device cookie, not the address nor the account.
    other = _browser(idp, "198.51.100.60")
    assert _attempt(other, _login_form(other), idp.national_code, PASSWORD).status_code == 303
    assert {e.detail["known_device"] for e in idp.services.audit.recent(kind="login.failed")} == {True}


def test_a_device_cookie_from_another_account_or_tampered_does_not_help(idp: Idp) -> None:
    other_code = make_national_code("007654321")
    other = new_person(other_code, "Reza", "Karimi", birthdate=date(1985, 1, 1), now=datetime.now(UTC))
    idp.services.people.add(other)
    idp.services.people.set_password_hash(other.id, idp.services.passwords.hash("another password"),
                                          datetime.now(UTC))
    # The attacker's own browser knows the attacker's own account.
    attacker = _browser(idp, "198.51.100.30")
    assert _attempt(attacker, _login_form(attacker), other_code, "another password").status_code == 303
    cookie = attacker.cookies.get(idp.services.device_cookies.name)
    assert cookie
    _flood(idp, idp.national_code)
    _retry_after(_attempt(attacker, _login_form(attacker), idp.national_code, PASSWORD))
    stranger = _browser(idp, "198.51.100.31")
    stranger.cookies.set(idp.services.device_cookies.name, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    _retry_after(_attempt(stranger, _login_form(stranger), idp.national_code, PASSWORD))


def test_unknown_and_known_accounts_are_refused_alike(idp: Idp) -> None:
    unknown = _codes(1, start=500)[0]
    pages = {}
    for code in (idp.national_code, unknown):
        _flood(idp, code)
        stranger = _browser(idp, "198.51.100.40")
        r = _attempt(stranger, _login_form(stranger), code, PASSWORD if code == idp.national_code else "guess")
        _retry_after(r)
        message = ERROR_RE.search(r.text)
        assert message, r.text
        pages[code] = message.group(1)
    assert pages[idp.national_code] == pages[unknown]


def test_the_device_cookie_is_hardened_and_names_no_one(idp: Idp) -> None:
    browser = _browser(idp, "198.51.100.50")
    r = _attempt(browser, _login_form(browser), idp.national_code, PASSWORD)
    assert r.status_code == 303
    name = idp.services.device_cookies.name
    assert name.startswith("__Host-")
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    lowered = cookie.lower()
    for flag in ("httponly", "secure", "samesite=strict", "path=/", "max-age="):
        assert flag in lowered, cookie
    assert idp.national_code not in cookie and idp.person_id not in cookie
    # Failed sign-ins never issue one.
    other = _browser(idp, "198.51.100.51")
    failed = _attempt(other, _login_form(other), idp.national_code, "guess")
    assert not any(h.startswith(f"{name}=") for h in failed.headers.get_list("set-cookie"))


# -- client authentication -----------------------------------------------------------------------

def _agency(idp: Idp) -> str:
    secret = idp.add_client("agency", redirect_uris=[], grant_types=["client_credentials"],
                            scopes=["inquiry.read"], audiences=[API])
    assert secret
    return secret


def test_wrong_client_secrets_with_forged_headers_are_refused(idp: Idp) -> None:
    _agency(idp)
    attacker = _browser(idp, "198.51.100.7")
    per_client_ip = idp.services.settings.client_auth_failures_per_client_ip
    statuses = []
    for n in range(230):
        r = attacker.post("/token", auth=("agency", f"guess {n}"), data={"grant_type": "client_credentials"},
                          headers={"X-Forwarded-For": f"203.0.113.{n % 250}"})
        statuses.append(r.status_code)
    assert statuses == [401] * per_client_ip + [429] * (230 - per_client_ip)
    assert r.json()["error"] == "invalid_client" and r.headers["cache-control"] == "no-store"
    _retry_after(r)


def test_wrong_secrets_for_many_clients_from_one_address_are_refused(idp: Idp) -> None:
    attacker = _browser(idp, "198.51.100.7")
    per_ip = idp.services.settings.client_auth_failures_per_ip
    statuses = [attacker.post("/token", auth=(f"client-{n}", "guess"), data={"grant_type": "client_credentials"},
                              headers={"X-Forwarded-For": f"203.0.113.{n % 250}"}).status_code
                for n in range(per_ip + 30)]
    assert statuses == [401] * per_ip + [429] * 30


def test_the_portal_authenticates_while_another_address_floods_its_secret(idp: Idp) -> None:
    secret = _agency(idp)
    attacker = _browser(idp, LOAD_BALANCER)
    for n in range(230):
        r = attacker.post("/token", auth=("agency", "guess"), data={"grant_type": "client_credentials"},
                          headers={"X-Forwarded-For": f"192.0.2.10, 203.0.113.{n % 3}"})
        assert r.status_code in (401, 429)
    _retry_after(r)
    # The agency's own server, 192.0.2.10, through the same load balancer.
    own = _browser(idp, LOAD_BALANCER, forwarded="192.0.2.10")
    oauth = OAuth2Client("agency", secret, transport=own._transport, base_url=ISSUER, scope="inquiry.read",
                         headers={"X-Forwarded-For": "192.0.2.10"})
    token = oauth.fetch_token(f"{ISSUER}/token", grant_type="client_credentials")
    assert token["access_token"]
