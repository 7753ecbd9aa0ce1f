"""`--server URL`: a command done through a provider's admin API (`idp.admin`) instead of its
database, for an operator with no access to the database's network.

The command line acts as an operator client (`IDP_ADMIN_CLIENT_ID`) with the private key in
`IDP_ADMIN_KEY_FILE` (a private JWK as JSON, or a PEM key): it reads the provider's discovery
document, gets an access token for the admin audience from the token endpoint with a client
assertion (private_key_jwt, RFC 7523), and makes the call. The answers have the shapes the local
commands print with `--json`; an error answer becomes the CLI's error, with the same exit codes
(2 for invalid input, 1 for anything else).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
import typer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from idp.cli.output import EXIT_FAILED, EXIT_INVALID, fail
from idp.settings import Settings

ServerOpt = Annotated[
    str | None,
    typer.Option("--server", metavar="URL", help="Do it through this provider's admin API (IDP_ADMIN_CLIENT_ID, "
                                                 "IDP_ADMIN_KEY_FILE) rather than its database."),
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TIMEOUT = 15.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def load_key(path: Path) -> ECKey | RSAKey:
    """The operator client's private key from `path`: a private JWK (JSON) or a PEM key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"IDP_ADMIN_KEY_FILE: cannot read {path}: {exc.strerror or exc}", EXIT_INVALID)
    try:
        if data.lstrip().startswith(b"{"):
            key = JWKRegistry.import_key(json.loads(data))
        else:
            try:
                key = JWKRegistry.import_key(data, "EC")
            except (JoseError, ValueError):
                key = JWKRegistry.import_key(data, "RSA")
    except (JoseError, ValueError, TypeError) as exc:
        fail(f"IDP_ADMIN_KEY_FILE: {path} holds no private EC or RSA key ({exc})", EXIT_INVALID)
    if not isinstance(key, ECKey | RSAKey) or not key.is_private:
        fail(f"IDP_ADMIN_KEY_FILE: {path} must hold a private EC or RSA key", EXIT_INVALID)
    return key


class AdminApi:
    """One provider's admin API, called as one operator client."""

    def __init__(self, server: str, client_id: str, key: ECKey | RSAKey,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(base_url=server.rstrip("/"), timeout=TIMEOUT, transport=transport,
                                  follow_redirects=False)
        self._client_id = client_id
        self._key = key
        self._token: str | None = None
        self._base = ""

    def _assertion(self, audience: str) -> str:
        now = int(time.time())
        alg = "ES256" if isinstance(self._key, ECKey) else "RS256"
        header = {"alg": alg, **({"kid": self._key.kid} if self._key.kid else {})}
        return jwt.encode(header, {"iss": self._client_id, "sub": self._client_id, "aud": audience, "iat": now,
                                   "exp": now + 60, "jti": secrets.token_urlsafe(16)}, self._key)

    def _authenticate(self) -> None:
        found = self._send("GET", "/.well-known/openid-configuration")
        issuer, token_endpoint = found.get("issuer"), found.get("token_endpoint")
        if not isinstance(issuer, str) or not isinstance(token_endpoint, str):
            fail(f"{self._http.base_url} is not an identity provider (no discovery document)", EXIT_FAILED)
        self._base = f"{issuer}/admin/v1"
        answer = self._send("POST", token_endpoint, data={
            "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self._assertion(token_endpoint), "resource": self._base})
        self._token = str(answer.get("access_token", ""))

    def call(self, method: str, path: str, body: object | None = None) -> Any:
        """The admin API's answer to `method path` (relative to `/admin/v1`), as JSON."""
        if self._token is None:
            self._authenticate()
        return self._send(method, f"{self._base}{path}", json=body,
                          headers={"Authorization": f"Bearer {self._token}"})

    def _send(self, method: str, url: str, **options: Any) -> Any:
        try:
            r = self._http.request(method, url, **options)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {self._http.base_url}: {exc}", EXIT_FAILED)
        try:
            body = r.json()
        except ValueError:
            fail(f"{method} {url}: HTTP {r.status_code} without a JSON answer", EXIT_FAILED)
        if r.is_success:
            return body
        detail = body.get("detail") or body.get("error_description") if isinstance(body, dict) else None
        error = body.get("error") if isinstance(body, dict) else None
        code = EXIT_INVALID if r.status_code == 400 and error == "invalid_request" else EXIT_FAILED
        fail(f"{error or 'HTTP ' + str(r.status_code)}: {detail or 'no detail'}", code)

    def close(self) -> None:
        self._http.close()


def segment(value: str) -> str:
    """`value` as one path segment."""
    return quote(value, safe="")


def admin_api(settings: Settings, server: str) -> AdminApi:
    """The admin API at `server`, with the operator client the settings name."""
    if not settings.admin_client_id or settings.admin_key_file is None:
        fail("--server needs the operator client's credentials: set IDP_ADMIN_CLIENT_ID and IDP_ADMIN_KEY_FILE"
             " (see docs/operations.md, Admin API)", EXIT_INVALID)
    parts = urlsplit(server)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        fail("--server: give the provider's https:// address (http only on this machine)", EXIT_INVALID)
    return AdminApi(server, settings.admin_client_id, load_key(settings.admin_key_file))
