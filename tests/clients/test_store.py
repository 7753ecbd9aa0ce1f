"""One contract suite for every ClientStore: in memory, SQLite, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.models import Client
from clients.store import ClientExists, ClientStore, MemoryClientStore, UnknownClient
from clients.store_sql import SqlClientStore
from idp.database import make_engine
from idp.migrate import upgrade
from tests.backends import postgres_database

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def client_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClientStore]:
    if request.param == "memory":
        yield MemoryClientStore()
        return
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'idp.db'}"
        else:
            url = stack.enter_context(postgres_database())
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        yield SqlClientStore(engine)


def sample(client_id: str = "tax-portal") -> Client:
    return Client(
        client_id=client_id, name="سامانه مالیات", token_endpoint_auth_method="private_key_jwt",
        redirect_uris=("https://tax.example/cb", "http://127.0.0.1:8080/cb"),
        post_logout_redirect_uris=("https://tax.example/bye",),
        grant_types=("authorization_code", "refresh_token"), scopes=("openid", "tax.file"),
        audiences=("https://api.tax.example",),
        jwks={"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]},
        id_token_signed_response_alg="RS256", backchannel_logout_uri="https://tax.example/logout",
        min_level=2, enabled=True, secret_hash=None, created_at=T0, updated_at=T0,
    )


def test_round_trip_keeps_every_field(client_store: ClientStore) -> None:
    client_store.add(sample())
    assert client_store.get("tax-portal") == sample()
    assert client_store.get("nobody") is None


def test_add_refuses_a_taken_id(client_store: ClientStore) -> None:
    client_store.add(sample())
    with pytest.raises(ClientExists):
        client_store.add(replace(sample(), name="other"))


def test_save_replaces_and_refuses_unknown(client_store: ClientStore) -> None:
    client_store.add(sample())
    changed = replace(sample(), name="Tax", enabled=False, secret_hash="ab" * 32, scopes=("openid",))
    client_store.save(changed)
    assert client_store.get("tax-portal") == changed
    with pytest.raises(UnknownClient):
        client_store.save(sample("nobody"))


def test_list_is_ordered_and_delete_reports(client_store: ClientStore) -> None:
    for client_id in ("zeta", "alpha", "mid"):
        client_store.add(sample(client_id))
    assert [c.client_id for c in client_store.list()] == ["alpha", "mid", "zeta"]
    assert client_store.delete("mid") is True
    assert client_store.delete("mid") is False
    assert [c.client_id for c in client_store.list()] == ["alpha", "zeta"]
