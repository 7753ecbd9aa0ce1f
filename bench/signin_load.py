"""Sign-in load: simulated citizens signing in over HTTP, a fixed number at a time, for a fixed time.

wrk sends one request over and over; a sign-in is a conversation (authorize, the form and its CSRF
token, the password, perhaps an SMS code, the code back to the portal, the token request), so this
drives it with asyncio and a deliberately small HTTP/1.1 client on raw streams, since it shares a
small machine with the server: it uses about 2 ms of CPU per password sign-in (five requests).

Each sign-in is a new person from the pool (`national_code mobile` per line) in a new browser: a new
connection and an empty cookie jar. The portal's back end, which redeems the code at /token, keeps
one connection per simulated user, as a portal would. A sign-in counts only if the token response
is a 200 whose ID token carries the nonce sent; its latency is the whole flow's, first request to
token response. SMS codes are read from the outbox file the server appends to (IDP_SMS_OUTBOX).

Run by bench/run.py, either imported or as a command (so it can be pinned to a core with taskset):
    BENCH_AUTHORIZATION='Basic ...' python bench/signin_load.py --base-url URL --client-id ID \
        --redirect-uri URI --password PW --people FILE [--skip N] [--outbox FILE] --warmup 1 --duration 10
It prints one line `SIGNIN_RESULT {json}`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

RESULT_PREFIX = "SIGNIN_RESULT "
REQUEST_TIMEOUT = 5.0  # a step slower than this fails the sign-in as a timeout
MAX_STEPS = 12  # redirects and pages in one sign-in before it is called a loop
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
_FORM = re.compile(r'<form method="post" action="([^"]+)"')
_SMS_CODE = re.compile(r"\d{6}")


class FlowError(Exception):
    """A sign-in went somewhere it should not have (an unexpected status, page or token response)."""


class PoolExhausted(Exception):
    """Every person in the pool has signed in once; the run stops rather than reusing anyone."""


@dataclass(frozen=True, slots=True)
class Flow:
    base_url: str
    client_id: str
    authorization: str  # the portal's HTTP Basic header value, for /token
    redirect_uri: str
    scope: str
    password: str
    outbox: Path | None  # needed when the client's level asks for an SMS code


@dataclass(slots=True)
class SigninResult:
    """The shape of `load.WrkResult`, so the report treats both alike; `requests` are sign-ins.

    `requests` are the sign-ins finished inside the measured window (after the warm-up); the rate
    and latencies are theirs. `completed` counts every finished sign-in, warm-up and those still in
    progress when the window closed included: it is what the server's CPU time covers.
    """

    requests: int
    duration_s: float
    non_2xx_3xx: int  # sign-ins that failed: unexpected status, page or token response
    socket_errors: int
    timeouts: int
    tokens_exhausted: int  # sign-ins not started because the pool of people ran out
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p99_9_ms: float
    mean_ms: float
    max_ms: float
    completed: int = 0
    people_used: int = 0  # people taken from the pool (a failed sign-in uses its person up too)
    warmup_errors: int = 0
    http_requests: int = 0
    sms_codes: int = 0
    first_errors: list[str] = field(default_factory=list)
    generator_cpu_ms: float | None = None  # this load generator's own CPU per sign-in (set by bench/run.py)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        # Running out of people counts: the rate would otherwise be measured on fewer simultaneous users.
        return self.non_2xx_3xx + self.socket_errors + self.timeouts + self.tokens_exhausted


# -- a minimal HTTP/1.1 client --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated ones other than Set-Cookie joined by ", "
    cookies: list[str]  # the name=value part of each Set-Cookie
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection with its own cookie jar (one browser, or one back end)."""

    def __init__(self, host: str, port: int, counter: list[int]) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.jar: dict[str, str] = {}
        self._counter = counter

    async def request(self, method: str, target: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host}:{self._port}", "Connection: keep-alive"]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        if self.jar:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.jar.items()))
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self._counter[0] += 1
        response = await asyncio.wait_for(_read_response(self._reader), REQUEST_TIMEOUT)
        for cookie in response.cookies:
            name, _, value = cookie.partition("=")
            if value:
                self.jar[name] = value
            else:
                self.jar.pop(name, None)
        if response.headers.get("connection", "").lower() == "close":
            await self.close()
        return response

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._reader = self._writer = None


async def _read_response(reader: asyncio.StreamReader) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for line in header_lines:
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "set-cookie":
            cookies.append(value.split(";", 1)[0].strip())
        else:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
        return Response(status, headers, cookies, bytes(body))
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Response(status, headers, cookies, body)


# -- the SMS outbox -------------------------------------------------------------------------------


class Outbox:
    """The server's SMS outbox file, read incrementally: the newest code per mobile number."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""
        self._codes: dict[str, str] = {}

    def _read_new(self) -> None:
        try:
            with self._path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        for line in complete:
            if line:
                message = json.loads(line)
                match = _SMS_CODE.search(message["text"])
                if match:
                    self._codes[message["to"]] = match.group(0)

    async def take(self, mobile: str) -> str:
        """The code sent to `mobile` (the server wrote it before answering the page that asks for it)."""
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while True:
            self._read_new()
            code = self._codes.pop(mobile, None)
            if code is not None:
                return code
            if time.monotonic() > deadline:
                raise FlowError(f"no SMS code for {mobile} in the outbox")
            await asyncio.sleep(0.005)


# -- one sign-in ----------------------------------------------------------------------------------


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _form(page: str, field_name: str) -> tuple[str, dict[str, str]] | None:
    """The action and hidden fields of the form on `page` that has an input named `field_name`."""
    for chunk in page.split("<form")[1:]:
        chunk = "<form" + chunk.split("</form>", 1)[0]
        if f'name="{field_name}"' in chunk:
            action = _FORM.search(chunk)
            if action is None:
                return None
            return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in _HIDDEN.findall(chunk)}
    return None


def _form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


async def sign_in(flow: Flow, host: str, port: int, person: tuple[str, str], portal: Connection,
                  outbox: Outbox | None, counter: list[int]) -> bool:
    """One whole sign-in of `person` (national code, mobile) in a new browser; True if an SMS code was
    needed. Raises FlowError (or a socket error or timeout) if any step goes wrong."""
    national_code, mobile = person
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    query = urlencode({"response_type": "code", "client_id": flow.client_id, "redirect_uri": flow.redirect_uri,
                       "scope": flow.scope, "state": state, "nonce": nonce, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    browser = Connection(host, port, counter)
    used_sms = False
    try:
        response = await browser.request("GET", "/authorize?" + query)
        for _ in range(MAX_STEPS):
            if response.status in (302, 303):
                location = response.headers.get("location", "")
                if location.startswith(flow.redirect_uri):
                    await _redeem(flow, portal, location, state, nonce, verifier)
                    return used_sms
                response = await browser.request("GET", _local(location, flow.base_url))
                continue
            if response.status != 200:
                raise FlowError(f"HTTP {response.status} on the way: {response.body[:200]!r}")
            page = response.body.decode()
            login = _form(page, "national_code")
            if login is not None:
                action, fields = login
                fields |= {"national_code": national_code, "password": flow.password}
                response = await browser.request("POST", action, _form_body(fields), _FORM_HEADERS)
                continue
            step = _form(page, "code")
            if step is not None and step[1].get("method") == "sms" and outbox is not None:
                action, fields = step
                fields["code"] = await outbox.take(mobile)
                used_sms = True
                response = await browser.request("POST", action, _form_body(fields), _FORM_HEADERS)
                continue
            raise FlowError(f"unexpected page: {page[:200]!r}")
        raise FlowError("too many steps")
    finally:
        await browser.close()


def _local(location: str, base_url: str) -> str:
    if location.startswith(base_url):
        location = location[len(base_url):]
    if not location.startswith("/"):
        raise FlowError(f"redirected away to {location[:100]}")
    return location


async def _redeem(flow: Flow, portal: Connection, location: str, state: str, nonce: str, verifier: str) -> None:
    """The portal's side: check the state, exchange the code, check the ID token's nonce."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if params.get("state") != state or "code" not in params:
        raise FlowError(f"bad authorization response: {location[:200]}")
    body = _form_body({"grant_type": "authorization_code", "code": params["code"],
                       "redirect_uri": flow.redirect_uri, "code_verifier": verifier})
    response = await portal.request("POST", "/token", body, _FORM_HEADERS | {"Authorization": flow.authorization})
    if response.status != 200:
        raise FlowError(f"token: HTTP {response.status}: {response.body[:200]!r}")
    id_token = json.loads(response.body).get("id_token", "")
    payload = id_token.split(".")[1] if id_token.count(".") == 2 else ""
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) if payload else {}
    if claims.get("nonce") != nonce:
        raise FlowError("token response without an ID token for this nonce")


# -- the run --------------------------------------------------------------------------------------


def read_people(path: Path) -> list[tuple[str, str]]:
    return [(code, mobile) for code, mobile in (line.split() for line in path.read_text().splitlines() if line)]


async def run(flow: Flow, people: Iterator[tuple[str, str]], *, concurrency: int, duration: float,
              warmup: float = 0.0) -> SigninResult:
    """Sign in people from `people`, `concurrency` at a time: `warmup` seconds, then `duration` seconds
    measured. Only sign-ins that finish inside the measured window count towards the rate and the
    latencies, so the window sees a full pipeline rather than its filling and draining; errors from
    the window on count. Sign-ins still in progress at its end are finished (`completed` counts
    every finished one, which is what the server's CPU time covers)."""
    split = urlsplit(flow.base_url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    outbox = Outbox(flow.outbox) if flow.outbox is not None else None
    if outbox is not None:
        outbox._read_new()  # codes sent before the run (the smoke test) are not this run's
        outbox._codes.clear()
    counter = [0]
    latencies: list[float] = []
    tally = {"completed": 0, "taken": 0, "warmup_errors": 0}
    failures = {"failed": 0, "socket": 0, "timeout": 0, "exhausted": 0, "sms": 0}
    first_errors: list[str] = []
    window_start = time.monotonic() + warmup
    deadline = window_start + duration

    def note(kind: str, exc: BaseException) -> None:
        if time.monotonic() < window_start:
            tally["warmup_errors"] += 1
        else:
            failures[kind] += 1
        if len(first_errors) < 5:
            first_errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])

    async def user() -> None:
        portal = Connection(host, port, counter)
        try:
            while time.monotonic() < deadline:
                person = next(people, None)
                if person is None:
                    failures["exhausted"] += 1
                    return
                tally["taken"] += 1
                begun = time.monotonic()
                try:
                    if await sign_in(flow, host, port, person, portal, outbox, counter):
                        failures["sms"] += 1
                except FlowError as exc:
                    note("failed", exc)
                    continue
                except TimeoutError as exc:
                    note("timeout", exc)
                    await portal.close()
                    continue
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    note("socket", exc)
                    await portal.close()
                    continue
                finished = time.monotonic()
                tally["completed"] += 1
                if window_start <= finished <= deadline:
                    latencies.append(finished - begun)
        finally:
            await portal.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    result = _result(latencies, duration, failures, counter[0], first_errors)
    result.completed, result.people_used = tally["completed"], tally["taken"]
    result.warmup_errors = tally["warmup_errors"]
    return result


def _result(latencies: list[float], duration: float, failures: dict[str, int], http_requests: int,
            first_errors: list[str]) -> SigninResult:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        if not ordered:
            return 0.0
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)

    return SigninResult(
        requests=len(ordered), duration_s=duration, non_2xx_3xx=failures["failed"],
        socket_errors=failures["socket"], timeouts=failures["timeout"], tokens_exhausted=failures["exhausted"],
        p50_ms=pct(50), p90_ms=pct(90), p99_ms=pct(99), p99_9_ms=pct(99.9),
        mean_ms=round(sum(ordered) / len(ordered) * 1000, 3) if ordered else 0.0,
        max_ms=round(ordered[-1] * 1000, 3) if ordered else 0.0,
        http_requests=http_requests, sms_codes=failures["sms"], first_errors=first_errors,
    )


def sign_in_once(flow: Flow, person: tuple[str, str]) -> None:
    """One sign-in before the load, so a misconfiguration fails loudly instead of as 'errors'."""

    async def once() -> None:
        split = urlsplit(flow.base_url)
        counter = [0]
        portal = Connection(split.hostname or "127.0.0.1", split.port or 80, counter)
        outbox = Outbox(flow.outbox) if flow.outbox is not None else None
        try:
            await sign_in(flow, split.hostname or "127.0.0.1", split.port or 80, person, portal, outbox, counter)
        finally:
            await portal.close()

    asyncio.run(once())


def run_blocking(flow: Flow, people: Iterator[tuple[str, str]], *, concurrency: int, duration: float,
                 warmup: float = 0.0) -> SigninResult:
    work = run(flow, people, concurrency=concurrency, duration=duration, warmup=warmup)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--authorization", default=os.environ.get("BENCH_AUTHORIZATION"),
                   help="the portal's Authorization header value for /token (default: $BENCH_AUTHORIZATION)")
    p.add_argument("--redirect-uri", required=True)
    p.add_argument("--scope", default="openid profile")
    p.add_argument("--password", required=True)
    p.add_argument("--people", type=Path, required=True, help="`national_code mobile` per line")
    p.add_argument("--skip", type=int, default=0, help="people at the top of the file already used")
    p.add_argument("--outbox", type=Path, help="the server's SMS outbox, for levels that need an SMS code")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0, help="seconds measured, after the warm-up")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of sign-ins before the measured window")
    args = p.parse_args(argv)
    if not args.authorization:
        p.error("give --authorization or set BENCH_AUTHORIZATION")
    flow = Flow(args.base_url, args.client_id, args.authorization, args.redirect_uri, args.scope, args.password,
                args.outbox)
    people = iter(read_people(args.people)[args.skip:])
    result = run_blocking(flow, people, concurrency=args.concurrency, duration=args.duration, warmup=args.warmup)
    print(RESULT_PREFIX + json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
