"""Exchange permissions (`clients.exchange`): the rules, the SQL store on SQLite and PostgreSQL, and
the service that validates against the registry and the audience's catalogue and audits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from clients.exchange import (
    ExchangePermission,
    ExchangePermissions,
    InvalidExchange,
    SqlExchangeStore,
    check_permission,
)
from clients.registry import ClientRegistry, UnknownClient
from clients.services import Service, ServiceCatalogue, SqlServiceStore
from clients.store_sql import Base as ClientsBase
from clients.store_sql import SqlClientStore

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def events() -> list[tuple[str, Mapping[str, object]]]:
    return []


@pytest.fixture
def registry(engine: Engine) -> ClientRegistry:
    registry = ClientRegistry(SqlClientStore(engine), cache_ttl=0)
    for client_id in ("tax-portal", "land-registry", "civil-registry"):
        registry.create(client_id=client_id, name=client_id, redirect_uris=(), grant_types=("client_credentials",))
    registry.create(client_id="spa", name="spa", redirect_uris=("https://spa.example/cb",),
                    token_endpoint_auth_method="none")
    catalogue = ServiceCatalogue(registry, SqlServiceStore(engine))
    catalogue.add(Service("land-registry", "land.ownership", 1))
    catalogue.add(Service("land-registry", "land.mortgage", 2))
    catalogue.add(Service("civil-registry", "civil.family", 1))
    return registry


@pytest.fixture
def exchanges(engine: Engine, registry: ClientRegistry, events: list) -> ExchangePermissions:
    return ExchangePermissions(registry, SqlExchangeStore(engine, clock=lambda: T0), SqlServiceStore(engine),
                               audit=lambda kind, d: events.append((kind, d)))


@pytest.mark.parametrize(("permission", "field"), [
    (ExchangePermission("tax-portal", "tax-portal", "x"), "audience"),
    (ExchangePermission("a b", "land-registry", "x"), "client_id"),
    (ExchangePermission("tax-portal", "", "x"), "audience"),
    (ExchangePermission("tax-portal", "land-registry", "two words"), "scope"),
    (ExchangePermission("tax-portal", "land-registry", 'quote"'), "scope"),
])
def test_rules(permission: ExchangePermission, field: str) -> None:
    with pytest.raises(InvalidExchange) as refused:
        check_permission(permission)
    assert refused.value.field == field


def test_allow_list_revoke_and_audit(exchanges: ExchangePermissions, events: list) -> None:
    held = exchanges.allow("tax-portal", "land-registry", ["land.ownership", "land.mortgage", "land.ownership"])
    assert [p.scope for p in held] == ["land.mortgage", "land.ownership"]
    # Allowing again changes nothing.
    assert exchanges.allow("tax-portal", "land-registry", ["land.ownership"]) == held
    exchanges.allow("land-registry", "civil-registry", ["civil.family"])
    assert exchanges.list() == [
        ExchangePermission("land-registry", "civil-registry", "civil.family"),
        ExchangePermission("tax-portal", "land-registry", "land.mortgage"),
        ExchangePermission("tax-portal", "land-registry", "land.ownership"),
    ]
    assert exchanges.list("land-registry") == [ExchangePermission("land-registry", "civil-registry", "civil.family")]
    assert exchanges.revoke("tax-portal", "land-registry", ["land.mortgage"]) == ["land.mortgage"]
    assert exchanges.revoke("tax-portal", "land-registry", ["land.mortgage"]) == []
    assert exchanges.revoke("tax-portal", "land-registry") == ["land.ownership"]
    assert exchanges.list("tax-portal") == []
    assert [(kind, d["client_id"], d["audience"], d["scopes"]) for kind, d in events] == [
        ("client.exchange_allowed", "tax-portal", "land-registry", ["land.ownership", "land.mortgage"]),
        ("client.exchange_allowed", "tax-portal", "land-registry", ["land.ownership"]),
        ("client.exchange_allowed", "land-registry", "civil-registry", ["civil.family"]),
        ("client.exchange_revoked", "tax-portal", "land-registry", ["land.mortgage"]),
        ("client.exchange_revoked", "tax-portal", "land-registry", ["land.ownership"]),
    ]


def test_refusals(exchanges: ExchangePermissions, events: list) -> None:
    with pytest.raises(UnknownClient):
        exchanges.allow("nobody", "land-registry", ["land.ownership"])
    with pytest.raises(UnknownClient):
        exchanges.allow("tax-portal", "nobody", ["land.ownership"])
    with pytest.raises(InvalidExchange, match="not one of the services of 'land-registry'"):
        exchanges.allow("tax-portal", "land-registry", ["civil.family"])
    with pytest.raises(InvalidExchange, match="itself"):
        exchanges.allow("land-registry", "land-registry", ["land.ownership"])
    with pytest.raises(InvalidExchange, match="at least one"):
        exchanges.allow("tax-portal", "land-registry", [])
    with pytest.raises(InvalidExchange, match="public client"):
        exchanges.allow("spa", "land-registry", ["land.ownership"])
    with pytest.raises(UnknownClient):
        exchanges.list("nobody")
    with pytest.raises(UnknownClient):
        exchanges.revoke("tax-portal", "nobody")
    assert exchanges.list() == [] and events == []


def test_permissions_go_with_the_clients_and_the_service(
    engine: Engine, exchanges: ExchangePermissions, registry: ClientRegistry,
) -> None:
    exchanges.allow("tax-portal", "land-registry", ["land.ownership", "land.mortgage"])
    exchanges.allow("tax-portal", "civil-registry", ["civil.family"])
    exchanges.allow("land-registry", "civil-registry", ["civil.family"])
    ServiceCatalogue(registry, SqlServiceStore(engine)).remove("land-registry", "land.mortgage")
    registry.delete("civil-registry")
    assert exchanges.list() == [ExchangePermission("tax-portal", "land-registry", "land.ownership")]
    registry.delete("tax-portal")
    assert exchanges.list() == []


def test_migration_matches_the_model(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), ClientsBase.metadata)
    assert [d for d in diffs if "exchange_permissions" in repr(d)] == []
