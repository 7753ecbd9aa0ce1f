from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import Engine, text

from clients.models import InvalidClientMetadata
from clients.registry import ClientExists, ClientRegistry, UnknownClient
from clients.secrets import hash_secret
from clients.store_sql import SqlClientStore

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
REDIRECT = ("https://tax.example/cb",)


class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore(SqlClientStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.reads = 0

    def get(self, client_id: str):  # type: ignore[no-untyped-def]
        self.reads += 1
        return super().get(client_id)


@pytest.fixture
def events() -> list[tuple[str, Mapping[str, object]]]:
    return []


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def store(engine: Engine) -> CountingStore:
    return CountingStore(engine)


@pytest.fixture
def registry(store: CountingStore, events: list, ticker: Ticker) -> ClientRegistry:
    return ClientRegistry(
        store, clock=lambda: T0, cache_ttl=5.0, audit=lambda kind, d: events.append((kind, d)),
        monotonic=ticker,
    )


def test_create_returns_the_secret_once_and_stores_only_its_hash(
    registry: ClientRegistry, engine: Engine, events: list
) -> None:
    client, secret = registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert secret and client.secret_hash == hash_secret(secret)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM clients WHERE client_id = 'tax-portal'")).one()
    assert secret not in " ".join(str(v) for v in row)
    stored = registry.get("tax-portal")
    assert stored is not None and stored.check_client_secret(secret)
    assert not stored.check_client_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert stored.created_at == T0 and stored.grant_types == ("authorization_code", "refresh_token")
    assert events == [("client.created", {"client_id": "tax-portal"})]
    assert all(secret not in repr(e) for e in events)


def test_create_generates_a_client_id(registry: ClientRegistry) -> None:
    a, _ = registry.create(name="A", redirect_uris=REDIRECT)
    b, _ = registry.create(name="B", redirect_uris=REDIRECT)
    assert a.client_id != b.client_id and len(a.client_id) >= 16


def test_clients_without_secret_get_none(registry: ClientRegistry) -> None:
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    backend, secret = registry.create(
        client_id="backend", name="Back end", token_endpoint_auth_method="private_key_jwt",
        grant_types=("client_credentials",), jwks=jwks, audiences=("https://api.example",),
    )
    assert secret is None and backend.secret_hash is None
    spa, secret = registry.create(client_id="spa", name="SPA", token_endpoint_auth_method="none",
                                  redirect_uris=("http://localhost:3000/cb",))
    assert secret is None and spa.is_public


def test_create_validates_and_refuses_duplicates(registry: ClientRegistry, events: list) -> None:
    with pytest.raises(InvalidClientMetadata, match="redirect_uris"):
        registry.create(client_id="bad", name="Bad", redirect_uris=("http://tax.example/cb",))
    with pytest.raises(InvalidClientMetadata, match="redirect_uris"):
        registry.create(client_id="bad", name="Bad", redirect_uris="https://tax.example/cb")  # type: ignore[arg-type]
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    with pytest.raises(ClientExists):
        registry.create(client_id="tax-portal", name="Tax again", redirect_uris=REDIRECT)
    assert [kind for kind, _ in events] == ["client.created"]


def test_rotate_secret_replaces_the_old_one(registry: ClientRegistry, engine: Engine, events: list) -> None:
    _, old = registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert registry.get("tax-portal") is not None
    new = registry.rotate_secret("tax-portal")
    client = registry.get("tax-portal")
    assert client is not None and new != old
    assert client.check_client_secret(new) and not client.check_client_secret(old)
    with engine.connect() as conn:
        assert new not in str(conn.execute(text("SELECT * FROM clients")).all())
    assert events[-1] == ("client.secret_rotated", {"client_id": "tax-portal"})
    assert all(new not in repr(e) for e in events)


def test_rotate_secret_refuses_clients_without_secret(registry: ClientRegistry) -> None:
    registry.create(client_id="spa", name="SPA", token_endpoint_auth_method="none", redirect_uris=REDIRECT)
    with pytest.raises(InvalidClientMetadata, match="token_endpoint_auth_method"):
        registry.rotate_secret("spa")
    with pytest.raises(UnknownClient):
        registry.rotate_secret("nobody")


def test_update_changes_validates_and_invalidates_cache(
    registry: ClientRegistry, store: CountingStore, events: list
) -> None:
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert registry.get("tax-portal").name == "Tax"  # type: ignore[union-attr]
    updated = registry.update("tax-portal", name="Tax 2", scopes=["openid", "phone"], min_level=2)
    assert updated.scopes == ("openid", "phone")
    got = registry.get("tax-portal")
    assert got is not None and got.name == "Tax 2" and got.min_level == 2
    fields = ["min_level", "name", "scopes"]
    assert events[-1] == ("client.updated", {"client_id": "tax-portal", "fields": fields})
    with pytest.raises(InvalidClientMetadata, match="min_level"):
        registry.update("tax-portal", min_level=5)
    with pytest.raises(InvalidClientMetadata, match="secret_hash"):
        registry.update("tax-portal", secret_hash="00" * 32)
    with pytest.raises(InvalidClientMetadata, match="client_id"):
        registry.update("tax-portal", client_id="other")
    with pytest.raises(UnknownClient):
        registry.update("nobody", name="x")
    assert registry.get("tax-portal").name == "Tax 2"  # type: ignore[union-attr]


def test_create_and_update_logout_and_consent_metadata(registry: ClientRegistry, events: list) -> None:
    client, _ = registry.create(
        client_id="shop", name="A shop", redirect_uris=REDIRECT, require_consent=True,
        frontchannel_logout_uri="https://tax.example/fc", frontchannel_logout_session_required=False,
        backchannel_logout_uri="https://tax.example/bc", backchannel_logout_session_required=False,
    )
    assert client.require_consent is True and client.frontchannel_logout_uri == "https://tax.example/fc"
    stored = registry.get("shop")
    assert stored == client
    updated = registry.update("shop", require_consent=False, frontchannel_logout_uri=None,
                              frontchannel_logout_session_required=True, backchannel_logout_session_required=True)
    assert updated.require_consent is False and updated.frontchannel_logout_uri is None
    assert updated.frontchannel_logout_session_required and updated.backchannel_logout_session_required
    assert events[-1] == ("client.updated", {"client_id": "shop", "fields": [
        "backchannel_logout_session_required", "frontchannel_logout_session_required", "frontchannel_logout_uri",
        "require_consent"]})
    assert registry.get("shop") == updated
    with pytest.raises(InvalidClientMetadata, match="frontchannel_logout_uri"):
        registry.update("shop", frontchannel_logout_uri="https://tax.example/fc#x")
    with pytest.raises(InvalidClientMetadata, match="frontchannel_logout_uri"):
        registry.create(client_id="shop2", name="Shop", redirect_uris=REDIRECT,
                        frontchannel_logout_uri="http://tax.example/fc")
    assert registry.get("shop2") is None


def test_switching_away_from_a_secret_drops_the_hash(registry: ClientRegistry) -> None:
    _, secret = registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    client = registry.update("tax-portal", token_endpoint_auth_method="none")
    assert client.secret_hash is None
    back = registry.update("tax-portal", token_endpoint_auth_method="client_secret_post")
    assert back.secret_hash is None and not back.check_client_secret(secret or "")


def test_disable_blocks_secret_and_enable_restores(registry: ClientRegistry, events: list) -> None:
    _, secret = registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert secret and registry.get("tax-portal").check_client_secret(secret)  # type: ignore[union-attr]
    registry.set_enabled("tax-portal", False)
    disabled = registry.get("tax-portal")
    assert disabled is not None and not disabled.enabled and not disabled.check_client_secret(secret)
    registry.set_enabled("tax-portal", True)
    assert registry.get("tax-portal").check_client_secret(secret)  # type: ignore[union-attr]
    assert [k for k, _ in events] == ["client.created", "client.disabled", "client.enabled"]


def test_delete(registry: ClientRegistry, events: list) -> None:
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert registry.get("tax-portal") is not None
    registry.delete("tax-portal")
    assert registry.get("tax-portal") is None and registry.list() == []
    with pytest.raises(UnknownClient):
        registry.delete("tax-portal")
    assert events[-1] == ("client.deleted", {"client_id": "tax-portal"})


def test_get_is_cached_for_ttl_and_misses_briefly(
    registry: ClientRegistry, store: CountingStore, ticker: Ticker, engine: Engine
) -> None:
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    store.reads = 0
    for _ in range(5):
        assert registry.get("tax-portal") is not None
    assert store.reads == 1
    # A change made behind the registry's back (another process) shows after the TTL.
    with engine.begin() as conn:
        conn.execute(text("UPDATE clients SET name = 'Elsewhere' WHERE client_id = 'tax-portal'"))
    ticker.now += 4.9
    assert registry.get("tax-portal").name == "Tax"  # type: ignore[union-attr]
    ticker.now += 0.2
    assert registry.get("tax-portal").name == "Elsewhere"  # type: ignore[union-attr]

    store.reads = 0
    for _ in range(100):
        assert registry.get("ghost") is None
    assert store.reads == 1
    ticker.now += 1.1
    registry.get("ghost")
    assert store.reads == 2


def test_create_clears_a_cached_miss(registry: ClientRegistry) -> None:
    assert registry.get("tax-portal") is None
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    assert registry.get("tax-portal") is not None


def test_concurrent_gets_are_safe(registry: ClientRegistry) -> None:
    registry.create(client_id="tax-portal", name="Tax", redirect_uris=REDIRECT)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(50):
                assert registry.get("tax-portal") is not None
                registry.get(f"ghost-{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fapi2_profile_turns_on_par_and_dpop_and_round_trips(registry: ClientRegistry, events: list) -> None:
    jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    with pytest.raises(InvalidClientMetadata, match="token_endpoint_auth_method"):
        registry.create(client_id="bank", name="Bank", redirect_uris=REDIRECT, profile="fapi2")
    client, secret = registry.create(
        client_id="bank", name="Bank", redirect_uris=REDIRECT, profile="fapi2",
        token_endpoint_auth_method="private_key_jwt", jwks=jwks, subject_type="pairwise")
    assert secret is None
    assert client.require_pushed_authorization_requests and client.dpop_bound_access_tokens
    assert registry.get("bank") == client  # every new field survives the database
    with pytest.raises(InvalidClientMetadata, match="dpop_bound_access_tokens"):
        registry.update("bank", dpop_bound_access_tokens=False)
    plain = registry.update("bank", profile=None, dpop_bound_access_tokens=False)
    assert plain.profile is None and not plain.dpop_bound_access_tokens
    assert plain.require_pushed_authorization_requests and plain.subject_type == "pairwise"
    hardened = registry.update("bank", profile="fapi2")
    assert hardened.dpop_bound_access_tokens


def test_names_in_both_languages_and_the_clients_pages_round_trip(registry: ClientRegistry) -> None:
    client, _ = registry.create(
        client_id="tax", name="Tax", redirect_uris=REDIRECT, name_fa="سامانهٔ مالیاتی", name_en="Tax administration",
        logo_uri="https://tax.example/logo.svg", client_uri="https://tax.example/",
        policy_uri="https://tax.example/privacy", tos_uri="https://tax.example/terms")
    assert registry.get("tax") == client  # every field survives the database
    assert registry.update("tax", name_en=None, logo_uri=None).display_name("en") == "سامانهٔ مالیاتی"


def test_an_imported_client_keeps_a_well_formed_secret_hash_only(registry: ClientRegistry) -> None:
    client, secret = registry.create(client_id="tax", name="Tax", redirect_uris=REDIRECT)
    moved = replace(client, client_id="tax-copy")
    with pytest.raises(InvalidClientMetadata, match="secret_hash"):
        registry.import_client(replace(moved, secret_hash="not-a-hash"))
    with pytest.raises(InvalidClientMetadata, match="secret_hash"):
        registry.import_client(replace(moved, token_endpoint_auth_method="none", grant_types=("authorization_code",)))
    imported, created = registry.import_client(moved)
    assert created and imported.check_client_secret(secret or "")
    with pytest.raises(ClientExists):
        registry.import_client(moved)
