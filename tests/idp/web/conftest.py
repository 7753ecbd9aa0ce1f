"""Fixtures of the web layer's tests: the development setup on plain-http loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from idp.storage.migrate import upgrade
from idp.storage.store import MemoryStore
from tests.idp.conftest import REDIRECT_URI, Idp, _build, _settings, pkce_pair

LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture
def loopback_idp(tmp_path: Path) -> Iterator[Idp]:
    """The development setup: a plain-http issuer on loopback."""
    url = f"sqlite:///{tmp_path / 'idp.db'}"
    upgrade(url)
    settings = _settings(url, tmp_path).model_copy(update={"issuer": LOOPBACK})
    idp = _build(settings, MemoryStore())
    idp.browser = TestClient(idp.browser.app, base_url=LOOPBACK, follow_redirects=False)
    yield idp
    idp.services.engine.dispose()


def authorize_path(**extra: str) -> str:
    """A valid authorization request of the portal, as a path on the provider."""
    _, challenge = pkce_pair()
    return "/authorize?" + urlencode({
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", **extra,
    })
