"""The server entry point (`idp.web.asgi.create`, run as `uvicorn --factory idp.web.asgi:create`):
the app it builds is configured from the `IDP_*` environment alone."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from idp.storage.migrate import upgrade
from idp.web.asgi import create


def test_the_factory_builds_the_app_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    monkeypatch.setenv("IDP_ISSUER", "https://login.example.ir/")
    monkeypatch.setenv("IDP_DATABASE_URL", url)
    monkeypatch.setenv("IDP_KEK", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))
    monkeypatch.setenv("IDP_BACKGROUND_TASKS", "false")
    monkeypatch.setenv("IDP_SMS_OUTBOX", str(tmp_path / "sms.jsonl"))
    app = create()
    with TestClient(app, base_url="https://login.example.ir") as client:
        meta = client.get("/.well-known/openid-configuration").json()
        assert meta["issuer"] == "https://login.example.ir"
        assert meta["token_endpoint"] == "https://login.example.ir/token"
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        # An https issuer: HSTS everywhere and `__Host-` cookies.
        page = client.get("/register")
        assert page.status_code == 200 and "strict-transport-security" in page.headers
        assert any(c.startswith("__Host-") for c in page.headers.get_list("set-cookie"))
