from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select

from clients.registry import ClientRegistry, UnknownClient
from clients.scopes import ADMIN_SCOPES
from clients.services import (
    MAX_AUTH_AGE,
    RESERVED_SCOPES,
    CachedServiceStore,
    InvalidService,
    Service,
    ServiceCatalogue,
    ServiceStore,
    SqlServiceStore,
    check_service,
)
from clients.store_sql import Base as ClientsBase
from clients.store_sql import ClientServiceRow, SqlClientStore

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
TAX = Service("tax-portal", "tax.file", 2, 3600)


@pytest.fixture
def events() -> list[tuple[str, Mapping[str, object]]]:
    return []


@pytest.fixture
def registry(engine: Engine, events: list) -> ClientRegistry:
    registry = ClientRegistry(SqlClientStore(engine), clock=lambda: T0, cache_ttl=0,
                              audit=lambda kind, d: events.append((kind, d)))
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=("https://tax.example/cb",),
                    scopes=("openid", "profile"))
    registry.create(client_id="customs", name="Customs", redirect_uris=("https://customs.example/cb",))
    events.clear()
    return registry


@pytest.fixture
def store(engine: Engine, registry: ClientRegistry) -> SqlServiceStore:
    return SqlServiceStore(engine, clock=lambda: T0)


@pytest.fixture
def catalogue(registry: ClientRegistry, store: SqlServiceStore, events: list) -> ServiceCatalogue:
    return ServiceCatalogue(registry, store, audit=lambda kind, d: events.append((kind, d)))


# Validation


@pytest.mark.parametrize("scope", ["tax.file", "a", "tax:file/2024", "x" * 128, "!#[]~"])
def test_valid_services(scope: str) -> None:
    check_service(Service("c1", scope, 1))
    check_service(Service("c1", scope, 3, 0))
    check_service(Service("c1", scope, 2, MAX_AUTH_AGE))


@pytest.mark.parametrize(
    ("service", "field"),
    [
        *[(Service("c1", scope, 2), "scope") for scope in sorted(RESERVED_SCOPES)],
        *[(Service("c1", scope, 2), "scope") for scope in sorted(ADMIN_SCOPES)],
        (Service("c1", "idp.anything", 2), "scope"),
        (Service("c1", "", 2), "scope"),
        (Service("c1", "tax file", 2), "scope"),
        (Service("c1", 'tax"file', 2), "scope"),
        (Service("c1", "tax\\file", 2), "scope"),
        (Service("c1", "مالیات", 2), "scope"),
        (Service("c1", "x" * 129, 2), "scope"),
        (Service("c1", "tax.file", 0), "min_level"),
        (Service("c1", "tax.file", 4), "min_level"),
        (Service("c1", "tax.file", True), "min_level"),
        (Service("c1", "tax.file", 2, -1), "max_auth_age"),
        (Service("c1", "tax.file", 2, MAX_AUTH_AGE + 1), "max_auth_age"),
        (Service("c1", "tax.file", 2, True), "max_auth_age"),
    ],
)
def test_invalid_services(service: Service, field: str) -> None:
    with pytest.raises(InvalidService) as caught:
        check_service(service)
    assert caught.value.field == field and str(caught.value).startswith(f"{field}: ")


# The store


def test_sql_store_is_a_service_store(store: SqlServiceStore) -> None:
    conforming: ServiceStore = store
    assert conforming is store


def test_store_adds_lists_in_scope_order_and_keeps_clients_apart(store: SqlServiceStore) -> None:
    store.add(Service("tax-portal", "tax.refund", 3, None))
    store.add(TAX)
    store.add(Service("customs", "customs.declare", 1, 60))
    assert store.services_for("tax-portal") == [TAX, Service("tax-portal", "tax.refund", 3, None)]
    assert store.services_for("customs") == [Service("customs", "customs.declare", 1, 60)]
    assert store.services_for("nobody") == []


def test_store_add_replaces_and_keeps_created_at(store: SqlServiceStore, engine: Engine) -> None:
    store.add(TAX)
    later = SqlServiceStore(engine, clock=lambda: datetime(2031, 1, 1, tzinfo=UTC))
    later.add(Service("tax-portal", "tax.file", 3, None))
    assert store.services_for("tax-portal") == [Service("tax-portal", "tax.file", 3, None)]
    with engine.connect() as conn:
        created = conn.execute(select(ClientServiceRow.created_at)).scalar_one()
    assert (created if created.tzinfo else created.replace(tzinfo=UTC)) == T0


def test_store_add_for_unknown_client(store: SqlServiceStore) -> None:
    with pytest.raises(UnknownClient):
        store.add(Service("nobody", "tax.file", 2))
    assert store.services_for("nobody") == []


def test_store_remove(store: SqlServiceStore) -> None:
    store.add(TAX)
    assert not store.remove("tax-portal", "tax.refund")
    assert not store.remove("customs", "tax.file")
    assert store.remove("tax-portal", "tax.file")
    assert store.services_for("tax-portal") == []
    assert not store.remove("tax-portal", "tax.file")


def test_deleting_a_client_deletes_its_services(store: SqlServiceStore, registry: ClientRegistry) -> None:
    store.add(TAX)
    store.add(Service("customs", "customs.declare", 1))
    registry.delete("tax-portal")
    assert store.services_for("tax-portal") == []
    assert store.services_for("customs") == [Service("customs", "customs.declare", 1)]
    registry.create(client_id="tax-portal", name="Tax again", redirect_uris=("https://tax.example/cb",))
    assert store.services_for("tax-portal") == []


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cached_store_reads_once_per_ttl_and_sees_its_own_changes_at_once(
    store: SqlServiceStore, engine: Engine
) -> None:
    clock = _Clock()
    cached = CachedServiceStore(store, ttl=5.0, monotonic=clock)
    conforming: ServiceStore = cached
    assert conforming.services_for("tax-portal") == []
    elsewhere = SqlServiceStore(engine, clock=lambda: T0)  # another process's change
    elsewhere.add(TAX)
    assert cached.services_for("tax-portal") == []  # served from this process's copy...
    clock.now += 5.0
    assert cached.services_for("tax-portal") == [TAX]  # ...for at most the ttl
    refund = Service("tax-portal", "tax.refund", 3, None)
    cached.add(refund)
    assert cached.services_for("tax-portal") == [TAX, refund]  # its own change: at once
    assert cached.remove("tax-portal", "tax.file")
    assert cached.services_for("tax-portal") == [refund]


def test_cached_store_with_no_ttl_always_reads(store: SqlServiceStore, engine: Engine) -> None:
    cached = CachedServiceStore(store, ttl=0)
    assert cached.services_for("tax-portal") == []
    SqlServiceStore(engine, clock=lambda: T0).add(TAX)
    assert cached.services_for("tax-portal") == [TAX]


def test_cached_store_forgets_even_when_a_change_fails(store: SqlServiceStore) -> None:
    cached = CachedServiceStore(store, ttl=60)
    assert cached.services_for("nobody") == []
    with pytest.raises(UnknownClient):
        cached.add(Service("nobody", "tax.file", 2))
    assert cached.services_for("nobody") == []


def test_migration_matches_the_model(engine: Engine) -> None:
    assert "client_services" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), ClientsBase.metadata)
    assert [d for d in diffs if "client_services" in repr(d)] == []


# The catalogue


def test_add_registers_the_scope_once_and_audits(
    catalogue: ServiceCatalogue, registry: ClientRegistry, events: list
) -> None:
    assert catalogue.add(TAX) == TAX
    assert catalogue.services_for("tax-portal") == [TAX]
    client = registry.get("tax-portal")
    assert client is not None and client.scopes == ("openid", "profile", "tax.file")
    assert client.get_allowed_scope("openid tax.file") == "openid tax.file"
    assert events == [
        ("client.updated", {"client_id": "tax-portal", "fields": ["scopes"]}),
        ("client.service_added",
         {"client_id": "tax-portal", "scope": "tax.file", "min_level": 2, "max_auth_age": 3600, "profile": None}),
    ]
    events.clear()
    catalogue.add(Service("tax-portal", "tax.file", 3, None))
    assert registry.get("tax-portal").scopes == ("openid", "profile", "tax.file")  # type: ignore[union-attr]
    assert catalogue.services_for("tax-portal") == [Service("tax-portal", "tax.file", 3, None)]
    assert [kind for kind, _ in events] == ["client.service_added"]


def test_add_keeps_a_scope_the_client_already_had(catalogue: ServiceCatalogue, registry: ClientRegistry) -> None:
    registry.update("tax-portal", scopes=("tax.file", "openid"))
    catalogue.add(TAX)
    assert registry.get("tax-portal").scopes == ("tax.file", "openid")  # type: ignore[union-attr]


def test_invalid_service_changes_nothing(
    catalogue: ServiceCatalogue, registry: ClientRegistry, events: list
) -> None:
    with pytest.raises(InvalidService):
        catalogue.add(Service("tax-portal", "tax.file", 5))
    with pytest.raises(InvalidService):
        catalogue.add(Service("tax-portal", "openid", 2))
    assert catalogue.services_for("tax-portal") == []
    assert registry.get("tax-portal").scopes == ("openid", "profile")  # type: ignore[union-attr]
    assert events == []


def test_unknown_client(catalogue: ServiceCatalogue, events: list) -> None:
    for attempt in (lambda: catalogue.add(Service("nobody", "tax.file", 2)),
                    lambda: catalogue.services_for("nobody"),
                    lambda: catalogue.remove("nobody", "tax.file")):
        with pytest.raises(UnknownClient):
            attempt()
    assert events == []


def test_remove_keeps_the_scope_and_audits(
    catalogue: ServiceCatalogue, registry: ClientRegistry, events: list
) -> None:
    catalogue.add(TAX)
    events.clear()
    assert not catalogue.remove("tax-portal", "tax.refund")
    assert events == []
    assert catalogue.remove("tax-portal", "tax.file")
    assert catalogue.services_for("tax-portal") == []
    assert "tax.file" in registry.get("tax-portal").scopes  # type: ignore[union-attr]
    assert events == [("client.service_removed", {"client_id": "tax-portal", "scope": "tax.file"})]


def test_a_service_is_named_in_each_language_and_by_its_scope_when_unnamed() -> None:
    named = Service("tax-portal", "tax.file", 2, name_fa="تسلیم اظهارنامه", name_en="File a tax return")
    check_service(named)
    assert (named.display_name("fa"), named.display_name("en")) == ("تسلیم اظهارنامه", "File a tax return")
    assert Service("tax-portal", "tax.file", 2, name_fa="تسلیم اظهارنامه").display_name("en") == "تسلیم اظهارنامه"
    assert Service("tax-portal", "tax.file", 2).display_name("fa") == "tax.file"
    for bad in ({"name_fa": "  "}, {"name_en": "x" * 201}, {"name_en": "a\tb"}):
        with pytest.raises(InvalidService) as info:
            check_service(Service("tax-portal", "tax.file", 2, **bad))  # type: ignore[arg-type]
        assert info.value.field == next(iter(bad))


def test_names_round_trip_and_change_with_the_service(catalogue: ServiceCatalogue) -> None:
    catalogue.add(Service("tax-portal", "tax.file", 2, name_fa="تسلیم اظهارنامه", name_en="File a tax return"))
    assert catalogue.services_for("tax-portal")[0].display_name("fa") == "تسلیم اظهارنامه"
    catalogue.add(Service("tax-portal", "tax.file", 2, name_en="File a return"))
    [renamed] = catalogue.services_for("tax-portal")
    assert (renamed.name_fa, renamed.name_en) == (None, "File a return")
