"""`idp demo-rp`: the two demo portals' side of the walk-through, on 127.0.0.1:8400.

It shows the authorization codes the portals receive, and prints every logout the provider sends:
back-channel logout tokens (verified against the provider's JWKS with joserfc, as a real portal
must) and front-channel logout frames. Development only; it holds no secrets.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
log = logging.getLogger("idp.demo.relying_party")


class LogoutVerifier:
    """Checks a logout token as OIDC Back-Channel Logout 1.0 §2.6 asks a relying party to."""

    def __init__(self, issuer: str, fetch_jwks: Callable[[], dict[str, object]]) -> None:
        self.issuer = issuer
        self._fetch_jwks = fetch_jwks

    def verify(self, token: str, audience: str) -> dict[str, object]:
        keys = KeySet.import_key_set(self._fetch_jwks())  # type: ignore[arg-type]
        decoded = jwt.decode(token, keys)
        claims = decoded.claims
        if decoded.header.get("typ") != "logout+jwt":
            raise ValueError("not a logout token (typ)")
        if claims.get("iss") != self.issuer or claims.get("aud") not in (audience, [audience]):
            raise ValueError("wrong issuer or audience")
        if BACKCHANNEL_EVENT not in (claims.get("events") or {}) or "nonce" in claims:
            raise ValueError("not a back-channel logout event")
        if not claims.get("sid") and not claims.get("sub"):
            raise ValueError("neither sid nor sub")
        return dict(claims)


def _say(line: str) -> None:
    print(line, flush=True)


# The demo portals' logo (`logo_uri`), shown at sign-in and consent.
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48">'
    '<rect width="48" height="48" rx="10" fill="#0b6e4f"/>'
    '<path d="M12 34V18l12-6 12 6v16H12z" fill="none" stroke="#fff" stroke-width="3" stroke-linejoin="round"/>'
    '<path d="M20 34v-9h8v9" fill="none" stroke="#fff" stroke-width="3"/></svg>'
)


def make_server(port: int, verifier: LogoutVerifier, portals: dict[str, str],
                say: Callable[[str], None] = _say) -> ThreadingHTTPServer:
    """`portals` maps a path prefix ("" or "/health") to the client_id served there."""

    class Handler(BaseHTTPRequestHandler):
        def _portal(self, suffix: str) -> str | None:
            path = urlsplit(self.path).path
            for prefix, client_id in portals.items():
                if path == f"{prefix}{suffix}":
                    return client_id
            return None

        def _reply(self, status: int, body: str) -> None:
            data = f"<!doctype html><meta charset=utf-8><title>Demo portal</title>{body}".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            query = parse_qs(urlsplit(self.path).query)
            if self._portal("/logo.svg") is not None:
                data = LOGO.encode()
                self.send_response(200)
                self.send_header("Content-Type", "image/svg+xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif (client_id := self._portal("/privacy")) is not None:
                self._reply(200, f"<h1>{client_id}</h1><p>Demo privacy policy: this demo keeps nothing.</p>")
            elif (client_id := self._portal("/terms")) is not None:
                self._reply(200, f"<h1>{client_id}</h1><p>Demo terms of use: for trying the provider only.</p>")
            elif (client_id := self._portal("/callback")) is not None:
                code = html.escape(query.get("code", ["(none)"])[0])
                error = query.get("error")
                say(f"[{client_id}] authorization response: " + (f"error={error[0]}" if error else "code received"))
                self._reply(200, f"<h1>{client_id}</h1><p>code: <code>{code}</code></p>"
                                 + (f"<p>error: {html.escape(error[0])}</p>" if error else ""))
            elif (client_id := self._portal("/frontchannel-logout")) is not None:
                say(f"[{client_id}] front-channel logout: iss={query.get('iss', ['?'])[0]} "
                    f"sid={query.get('sid', ['?'])[0]}")
                self._reply(200, "<p>signed out</p>")
            else:
                self._reply(200, "<h1>Demo portal</h1><p>Signed out.</p>")

        def do_POST(self) -> None:  # noqa: N802
            client_id = self._portal("/backchannel-logout")
            body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 65536)).decode()
            token = parse_qs(body).get("logout_token", [""])[0]
            if client_id is None or not token:
                self._reply(400, "<p>not a logout request</p>")
                return
            try:
                claims = verifier.verify(token, client_id)
            except (JoseError, ValueError, httpx.HTTPError) as exc:
                say(f"[{client_id}] back-channel logout REFUSED: {exc}")
                self._reply(400, "<p>invalid logout token</p>")
                return
            say(f"[{client_id}] back-channel logout: sub={claims.get('sub')} sid={claims.get('sid')} "
                f"jti={claims.get('jti')}")
            self._reply(200, "")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve(issuer: str, port: int, portals: dict[str, str]) -> None:
    def fetch() -> dict[str, object]:
        return dict(httpx.get(f"{issuer}/jwks", timeout=5, trust_env=False).json())

    server = make_server(port, LogoutVerifier(issuer, fetch), portals)
    print(f"Demo portals on http://127.0.0.1:{port} — waiting for codes and logouts (Ctrl-C to stop)", flush=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
