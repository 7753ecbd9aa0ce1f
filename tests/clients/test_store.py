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
from idp.storage.database import make_engine
from idp.storage.migrate import upgrade
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
        backchannel_logout_session_required=False, frontchannel_logout_uri="https://tax.example/fc-logout",
        frontchannel_logout_session_required=False, require_consent=True,
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


def test_logout_and_consent_flags_round_trip_both_ways(client_store: ClientStore) -> None:
    plain = replace(sample(), backchannel_logout_session_required=True, frontchannel_logout_uri=None,
                    frontchannel_logout_session_required=True, require_consent=False)
    client_store.add(plain)
    assert client_store.get("tax-portal") == plain
    client_store.save(sample())
    stored = client_store.get("tax-portal")
    assert stored is not None and stored.require_consent is True
    assert stored.frontchannel_logout_uri == "https://tax.example/fc-logout"
    assert stored.backchannel_logout_session_required is False and stored.frontchannel_logout_session_required is False


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_rows_written_without_the_new_columns_read_as_the_defaults(backend: str, tmp_path: Path) -> None:
    """Clients registered before migration 0009 keep working: trusted, session ids required."""
    from sqlalchemy import text

    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'idp.db'}" if backend == "sqlite" else stack.enter_context(postgres_database())
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO clients (client_id, name, token_endpoint_auth_method, redirect_uris,"
                " post_logout_redirect_uris, grant_types, scopes, audiences, id_token_signed_response_alg,"
                " min_level, enabled, created_at, updated_at) VALUES ('old', 'Old', 'none', '[]', '[]',"
                " '[\"client_credentials\"]', '[]', '[]', 'ES256', 1, true, :t, :t)"), {"t": T0})
        old = SqlClientStore(engine).get("old")
    assert old is not None and old.require_consent is False and old.frontchannel_logout_uri is None
    assert old.backchannel_logout_session_required is True and old.frontchannel_logout_session_required is True
