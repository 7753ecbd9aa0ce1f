"""A relying party's logout endpoint for tests: a real HTTP server on loopback that records every
request and answers with the statuses a test asks for."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


def claims_unverified(token: str) -> dict[str, object]:
    """The claims of a JWS without checking it: only to tell deliveries apart (jti)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True, strict_parsing=True)

    @property
    def token(self) -> str:
        return self.form["logout_token"][0]


@dataclass
class RelyingParty:
    """A portal's back-channel logout endpoint: records every request and answers `statuses` in
    order, then `default`."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    hold: threading.Event | None = None  # if set, the first request is answered only once it is set
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/backchannel-logout") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, received: Received) -> int:
        with self.lock:
            self.requests.append(received)
            return self.statuses.pop(0) if self.statuses else self.default

    def jtis(self) -> list[str]:
        return [claims_unverified(r.token)["jti"] for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        rp = self.server.rp
        if rp.delay:
            time.sleep(rp.delay)
        status = rp.answer(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if rp.hold is not None and len(rp.requests) == 1:
            rp.hold.wait(5)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", rp.url("/elsewhere"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _handle  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    rp: RelyingParty


@pytest.fixture
def rp() -> Iterator[RelyingParty]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.rp = RelyingParty(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.rp
    server.shutdown()
    server.server_close()
    thread.join(5)


