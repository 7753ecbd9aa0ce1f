"""Real headless Chromium (Debian's, never downloaded), a live app server, and relying parties'
pages on loopback for browser tests."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
import uvicorn
from starlette.types import ASGIApp

from idp.demo.relying_party import LOGO
from idp.settings import Settings
from idp.storage.migrate import upgrade
from tests.backends import IN_CI

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def missing(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"{reason} (the browser test is required under CI=true)")
    pytest.skip(reason)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        missing(f"playwright is not installed: {exc}")
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        missing("Chromium not found (no `chromium` on PATH, no /usr/bin/chromium); it is never downloaded")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def live_settings(tmp_path: Path, *, host: str = "127.0.0.1", **changed: object) -> tuple[socket.socket, Settings]:
    """A loopback socket for a live app and its settings: the issuer is that plain-http origin (on
    `host`), a migrated SQLite file in `tmp_path`, fast password hashing, the SMS outbox in
    `tmp_path`, and `changed`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    database_url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(database_url)
    settings = Settings(
        issuer=f"http://{host}:{sock.getsockname()[1]}", database_url=database_url,
        kek=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        argon2_memory_kib=1024, argon2_time_cost=1, client_cache_ttl=0, sms_outbox=tmp_path / "sms.jsonl",
        **changed,  # type: ignore[arg-type]
    )
    return sock, settings


@contextmanager
def serve(app: ASGIApp, sock: socket.socket) -> Iterator[None]:
    """Run `app` with uvicorn on an already bound loopback socket in a thread, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class RelyingPartySite:
    """A relying party's pages on loopback: its redirect URI is `callback`; every authorization
    response the browser brought there is in `arrived` (full URLs, in order).

    A real server rather than `BrowserContext.route`: Playwright routes only the first request of a
    redirect chain, so the IdP's 302 to a routed https://portal.example/... went out to DNS, failed,
    and only Chromium's automatic reload of the error page reached the route, a second later. A
    `wait_for_url` already listening (the passkey page submits after an asynchronous WebAuthn call,
    so the click returns before the navigation starts) saw `net::ERR_NAME_NOT_RESOLVED` instead.
    """

    title: str
    port: int = 0
    arrived: list[str] = field(default_factory=list)
    posted: list[tuple[str, str]] = field(default_factory=list)  # form_post responses: (URL, body)

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    @property
    def logo(self) -> str:
        """The site's logo, an image from another origin than the provider's."""
        return f"http://127.0.0.1:{self.port}/logo.svg"


class _SiteHandler(BaseHTTPRequestHandler):
    server: _SiteServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        site = self.server.site
        if self.path == "/logo.svg":
            logo = LOGO.encode()
            self.send_response(200)
            self.send_header("Content-Type", "image/svg+xml")
            self.send_header("Content-Length", str(len(logo)))
            self.end_headers()
            self.wfile.write(logo)
            return
        if self.path.split("?")[0] != "/callback":
            self.send_error(404)
            return
        site.arrived.append(f"http://127.0.0.1:{site.port}{self.path}")
        self._page()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        site = self.server.site
        if self.path != "/callback":
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        site.posted.append((f"http://127.0.0.1:{site.port}{self.path}", self.rfile.read(length).decode()))
        self._page()

    def _page(self) -> None:
        site = self.server.site
        # No favicon request: a 404 for it would be a console error in tests that count them.
        body = f'<!doctype html><title>{site.title}</title><link rel="icon" href="data:,">'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    site: RelyingPartySite


@contextmanager
def relying_party_site(title: str) -> Iterator[RelyingPartySite]:
    """Serve a relying party's callback page on 127.0.0.1 until the block ends."""
    server = _SiteServer(("127.0.0.1", 0), _SiteHandler)
    server.site = RelyingPartySite(title, port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
