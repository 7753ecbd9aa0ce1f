"""Sign-in, refresh and userinfo over HTTP, one request at a time, against two servers in turn.

A sign-in is what a browser and a portal do, without a browser: `GET /authorize` (PKCE) → the
password form (its CSRF token and transaction id) → `POST /login` → `/authorize/resume` → the code
at the redirect URI → `POST /token`. Each sign-in uses a new cookie jar and the next person of a
pool that has passwords. Refresh rotates the refresh tokens those sign-ins received; userinfo
presents their access tokens.

The two servers (10³ and 10⁶ people) are measured alternately, request by request (A B B A A B …),
so whatever else the machine is doing falls on both alike and the difference is the data's.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from levels.authenticators.password import Passwords
from levels.people import SqlPersonStore

PASSWORD = "scale bench correct horse"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TX = re.compile(r'name="tx" value="([^"]+)"')


@dataclass(frozen=True, slots=True)
class Target:
    """One server and what signing in there needs."""

    name: str
    base_url: str
    authorization: str  # the portal's HTTP Basic header value
    client_id: str
    redirect_uri: str
    scope: str
    national_codes: tuple[str, ...]  # the pool: people with PASSWORD


@dataclass(slots=True)
class Tokens:
    refresh: list[str] = field(default_factory=list)
    access: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Timings:
    signin: list[float] = field(default_factory=list)
    refresh: list[float] = field(default_factory=list)
    userinfo: list[float] = field(default_factory=list)


def set_passwords(database_url: str, person_ids: Sequence[str], passwords: Passwords) -> None:
    """Give each person PASSWORD, hashed as the provider hashes it (each with its own salt)."""
    from datetime import UTC, datetime

    from idp.storage.database import make_engine

    engine = make_engine(database_url)
    try:
        people = SqlPersonStore(engine)
        now = datetime.now(UTC)
        for person_id in person_ids:
            people.set_password_hash(person_id, passwords.hash(PASSWORD), now)
    finally:
        engine.dispose()


class Driver:
    """Requests to one target, keeping the tokens its sign-ins received."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.tokens = Tokens()
        self.timings = Timings()
        self._api = httpx.Client(base_url=target.base_url, timeout=30)
        self._next_person = 0
        self._next_refresh = 0
        self._next_access = 0

    def close(self) -> None:
        self._api.close()

    def sign_in(self, record: bool) -> None:
        code = self.target.national_codes[self._next_person % len(self.target.national_codes)]
        self._next_person += 1
        started = time.perf_counter()
        tokens = self._sign_in(code)
        elapsed = time.perf_counter() - started
        if record:
            self.timings.signin.append(elapsed)
        self.tokens.refresh.append(tokens["refresh_token"])
        self.tokens.access.append(tokens["access_token"])

    def _sign_in(self, national_code: str) -> dict[str, str]:
        t = self.target
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(8)
        query = urlencode({"response_type": "code", "client_id": t.client_id, "redirect_uri": t.redirect_uri,
                           "scope": t.scope, "state": state, "code_challenge": challenge,
                           "code_challenge_method": "S256", "ui_locales": "en"})
        with httpx.Client(base_url=t.base_url, timeout=30) as browser:  # a new browser: no session yet
            r = _expect(browser.get(f"/authorize?{query}"), 302, "authorize")
            page = _expect(browser.get(r.headers["location"]), 200, "login page").text
            csrf, tx = _CSRF.search(page), _TX.search(page)
            if not (csrf and tx):
                raise RuntimeError("the sign-in page has no CSRF token or transaction id")
            r = _expect(browser.post("/login", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                                     "national_code": national_code, "password": PASSWORD}),
                        303, "password")
            r = _expect(browser.get(r.headers["location"]), 302, "resume")
            location = r.headers["location"]
        if not location.startswith(t.redirect_uri):
            raise RuntimeError(f"sign-in ended at {location!r}, not the redirect URI")
        params = parse_qs(urlsplit(location).query)
        if params.get("state") != [state] or "code" not in params:
            raise RuntimeError(f"no code in {location!r}")
        return self._token({"grant_type": "authorization_code", "code": params["code"][0],
                            "redirect_uri": t.redirect_uri, "code_verifier": verifier})

    def refresh(self, record: bool) -> None:
        i = self._next_refresh % len(self.tokens.refresh)
        self._next_refresh += 1
        started = time.perf_counter()
        tokens = self._token({"grant_type": "refresh_token", "refresh_token": self.tokens.refresh[i]})
        elapsed = time.perf_counter() - started
        if record:
            self.timings.refresh.append(elapsed)
        self.tokens.refresh[i] = tokens["refresh_token"]  # rotated: the old one is spent
        self.tokens.access[i] = tokens["access_token"]

    def userinfo(self, record: bool) -> None:
        access = self.tokens.access[self._next_access % len(self.tokens.access)]
        self._next_access += 1
        started = time.perf_counter()
        r = self._api.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        elapsed = time.perf_counter() - started
        if "sub" not in _expect(r, 200, "userinfo").json():
            raise RuntimeError("userinfo without sub")
        if record:
            self.timings.userinfo.append(elapsed)

    def _token(self, form: dict[str, str]) -> dict[str, str]:
        r = self._api.post("/token", data=form, headers={"Authorization": self.target.authorization})
        body: dict[str, str] = _expect(r, 200, f"token ({form['grant_type']})").json()
        return body


def _expect(r: httpx.Response, status: int, step: str) -> httpx.Response:
    if r.status_code != status:
        raise RuntimeError(f"{step}: HTTP {r.status_code} (expected {status}): {r.text[:300]!r}")
    return r


@dataclass(frozen=True, slots=True)
class Counts:
    signins: int
    refreshes: int
    userinfos: int
    warmup: int  # of each kind, first, not recorded


def measure(drivers: Sequence[Driver], counts: Counts, log: Callable[[str], None]) -> None:
    """Warm up, then run each kind of request `counts` times per driver, alternating between them."""
    for record, n_signin, n_other in ((False, counts.warmup, counts.warmup),
                                      (True, counts.signins, counts.refreshes)):
        log(f"  {'measuring' if record else 'warming up'}: {n_signin} sign-ins per server")
        _alternate(drivers, n_signin, lambda d, r=record: d.sign_in(r))
        log(f"  {'measuring' if record else 'warming up'}: {n_other} refreshes per server")
        _alternate(drivers, n_other, lambda d, r=record: d.refresh(r))
        n_userinfo = counts.userinfos if record else counts.warmup
        log(f"  {'measuring' if record else 'warming up'}: {n_userinfo} userinfo requests per server")
        _alternate(drivers, n_userinfo, lambda d, r=record: d.userinfo(r))


def _alternate(drivers: Sequence[Driver], n: int, step: Callable[[Driver], None]) -> None:
    for i in range(n):
        order = drivers if i % 2 == 0 else list(reversed(drivers))
        for driver in order:
            step(driver)


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile `p` (0-100) of `values`."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
