"""The service catalogue: the services a client (an agency window) offers, each a scope with the
minimum level and maximum authentication age it needs.

This is where "the level each service needs" is stated once, by the agency; authorization takes the
maximum over the requested service scopes. `ServiceCatalogue` is the one way services change: it
validates with `check_service`, makes the scope requestable by the client, stores and audits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, RowMapping, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from clients.errors import InvalidField
from clients.models import _SCOPE_TOKEN, PROFILES, Client, check_display_name, localized_name
from clients.registry import ClientRegistry, utcnow
from clients.store import UnknownClient
from clients.store_sql import ClientRow, ClientServiceRow

__all__ = [
    "RESERVED_SCOPES", "CachedServiceStore", "InvalidService", "Service", "ServiceCatalogue", "ServiceStore",
    "SqlServiceStore", "check_service",
]

Audit = Callable[[str, Mapping[str, object]], None]

# Scopes with a meaning of their own in this provider (OIDC, claims, entity choice), never a service.
RESERVED_SCOPES: frozenset[str] = frozenset(
    {"openid", "profile", "phone", "national_code", "offline_access", "legal_entity"}
)
# Scopes of the provider's own APIs (`idp.admin.*`), never a service.
PROVIDER_SCOPE_PREFIX = "idp."
SERVICE_LEVELS = range(1, 4)
MAX_SCOPE_LENGTH = 128
# The column is a 32-bit integer on PostgreSQL; 68 years is no limit in practice.
MAX_AUTH_AGE = 2**31 - 1


class InvalidService(InvalidField):
    """A service breaks a catalogue rule."""


@dataclass(frozen=True, slots=True)
class Service:
    """One service of a client: requesting `scope` needs `min_level`, with factors at most
    `max_auth_age` seconds old (None: the level's own maximum age)."""

    client_id: str
    scope: str
    min_level: int
    max_auth_age: int | None = None
    # A profile (`clients.models.PROFILES`) a client must be held to for this service to be
    # reachable: `fapi2` keeps the services that move money or change legal status behind
    # hardened clients.
    profile: str | None = None
    # What people read for this service (the mandate picker, consent): Persian and English.
    name_fa: str | None = None
    name_en: str | None = None

    def display_name(self, locale: str) -> str:
        """The service's name as a page in `locale` shows it; its scope when it has no name."""
        return localized_name(locale, fa=self.name_fa, en=self.name_en) or self.scope

    def reachable_by(self, client: Client) -> bool:
        """Whether `client` may request this service: held to the profile the service requires, if any."""
        return self.profile is None or client.profile == self.profile


def check_service(service: Service) -> None:
    """Raise `InvalidService` naming the first field of `service` that breaks a rule.

    The scope must be an RFC 6749 scope token outside `RESERVED_SCOPES` and the provider's own
    `idp.` scopes, the level 1, 2 or 3, and
    the maximum authentication age, if given, a whole number of seconds >= 0.
    """
    scope = service.scope
    if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
        raise InvalidService("scope", f"{scope!r} is not a valid scope token")
    if len(scope) > MAX_SCOPE_LENGTH:
        raise InvalidService("scope", f"must be at most {MAX_SCOPE_LENGTH} characters")
    if scope in RESERVED_SCOPES:
        raise InvalidService("scope", f"{scope!r} is reserved and cannot be a service")
    if scope.startswith(PROVIDER_SCOPE_PREFIX):
        # The provider's own (the admin API's, `clients.scopes.ADMIN_SCOPES`): adding a service
        # registers its scope with the client, which must never hand a portal an admin scope.
        raise InvalidService("scope", f"{scope!r} is one of the provider's own scopes and cannot be a service")
    level = service.min_level
    if isinstance(level, bool) or not isinstance(level, int) or level not in SERVICE_LEVELS:
        raise InvalidService("min_level", f"{level!r} is not 1, 2 or 3")
    age = service.max_auth_age
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AUTH_AGE):
        raise InvalidService("max_auth_age", f"{age!r} must be a whole number of seconds from 0 to {MAX_AUTH_AGE}")
    if service.profile is not None and service.profile not in PROFILES:
        raise InvalidService("profile", f"{service.profile!r} is not one of {', '.join(sorted(PROFILES))}")
    check_display_name("name_fa", service.name_fa, InvalidService)
    check_display_name("name_en", service.name_en, InvalidService)


class ServiceStore(Protocol):
    """Durable services of clients. Stores values as given; validates nothing."""

    def services_for(self, client_id: str) -> list[Service]:
        """Return the client's services ordered by scope; [] if it has none or does not exist."""
        ...

    def add(self, service: Service) -> None:
        """Create the service, or replace the one with the same client_id and scope.

        Raise `UnknownClient` if there is no such client.
        """
        ...

    def remove(self, client_id: str, scope: str) -> bool:
        """Delete the client's service for `scope`; return False if there was none."""
        ...


_SERVICES = ClientServiceRow.__table__
_CLIENTS = ClientRow.__table__
# Built once: authorization reads a client's services on every request.
_FOR_CLIENT = (
    select(_SERVICES.c.client_id, _SERVICES.c.scope, _SERVICES.c.min_level, _SERVICES.c.max_auth_age,
           _SERVICES.c.profile, _SERVICES.c.name_fa, _SERVICES.c.name_en)
    .where(_SERVICES.c.client_id == bindparam("client_id"))
    .order_by(_SERVICES.c.scope)
)


class SqlServiceStore:
    """A `ServiceStore` on the `client_services` table; a client's services go when it is deleted."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def services_for(self, client_id: str) -> list[Service]:
        with self._engine.connect() as conn:
            rows = conn.execute(_FOR_CLIENT, {"client_id": client_id}).mappings().all()
        return [_to_service(row) for row in rows]

    def add(self, service: Service) -> None:
        key = (_SERVICES.c.client_id == service.client_id) & (_SERVICES.c.scope == service.scope)
        values = {"min_level": service.min_level, "max_auth_age": service.max_auth_age, "profile": service.profile,
                  "name_fa": service.name_fa, "name_en": service.name_en}
        # Update-then-insert works the same on SQLite and PostgreSQL; if a concurrent writer inserts
        # first, the retry's update replaces its row, which is what an upsert means anyway.
        for _ in range(2):
            try:
                with self._engine.begin() as conn:
                    if conn.execute(update(_SERVICES).where(key).values(**values)).rowcount:
                        return
                    known = select(_CLIENTS.c.client_id).where(_CLIENTS.c.client_id == service.client_id)
                    if conn.execute(known).first() is None:
                        raise UnknownClient(service.client_id)
                    conn.execute(insert(_SERVICES).values(
                        client_id=service.client_id, scope=service.scope, **values,
                        created_at=self._clock().astimezone(UTC),
                    ))
                    return
            except IntegrityError:
                continue
        raise UnknownClient(service.client_id)

    def remove(self, client_id: str, scope: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(_SERVICES).where((_SERVICES.c.client_id == client_id) & (_SERVICES.c.scope == scope))
            )
        return result.rowcount > 0


class ServiceCatalogue:
    """Services of registered clients, changed with validation and auditing."""

    def __init__(self, registry: ClientRegistry, store: ServiceStore, *, audit: Audit | None = None) -> None:
        self._registry = registry
        self._store = store
        self._audit = audit

    def services_for(self, client_id: str) -> list[Service]:
        """The client's services ordered by scope; raises `UnknownClient` if there is no such client."""
        self._registry.existing(client_id)
        return self._store.services_for(client_id)

    def add(self, service: Service) -> Service:
        """Create or replace a service, and register its scope with the client so it may request it.

        Raises `InvalidService`, `UnknownClient` or `BuiltInClient`.
        """
        check_service(service)
        self._registry.changeable(service.client_id)
        client = self._registry.existing(service.client_id)
        # The scope first: if storing the service then fails, an extra requestable scope with no
        # level of its own is harmless, whereas a stored service the client cannot request is not.
        if service.scope not in client.scopes:
            self._registry.update(client.client_id, scopes=(*client.scopes, service.scope))
        self._store.add(service)
        self._record("client.service_added", service.client_id, scope=service.scope,
                     min_level=service.min_level, max_auth_age=service.max_auth_age, profile=service.profile,
                     **{k: v for k, v in (("name_fa", service.name_fa), ("name_en", service.name_en)) if v})
        return service

    def remove(self, client_id: str, scope: str) -> bool:
        """Remove the client's service for `scope`; return False if there was none.

        The scope stays registered with the client (it may still be requested, with no level of its
        own). Raises `UnknownClient` if there is no such client.
        """
        self._registry.changeable(client_id)
        self._registry.existing(client_id)
        if not self._store.remove(client_id, scope):
            return False
        self._record("client.service_removed", client_id, scope=scope)
        return True

    def _record(self, event: str, client_id: str, **detail: object) -> None:
        if self._audit is not None:
            self._audit(event, {"client_id": client_id, **detail})


class CachedServiceStore:
    """A `ServiceStore` that keeps each client's services in this process for up to `ttl` seconds.

    Authorization reads them on every request of a sign-in (the authorization request, each return
    to it, each step page), like the client itself, which `ClientRegistry` caches for the same time
    (`IDP_CLIENT_CACHE_TTL`). Changes made through this store are seen at once here; made by another
    process, they are seen within `ttl` seconds, as a client's own minimum level is.
    """

    def __init__(self, store: ServiceStore, ttl: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, tuple[Service, ...]]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def services_for(self, client_id: str) -> list[Service]:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(client_id)
            if hit is not None and hit[0] > now:
                return list(hit[1])
            generation = self._generation
        services = self._store.services_for(client_id)
        if self._ttl > 0:
            with self._lock:
                # A change made while we were reading would otherwise be overwritten by the stale copy.
                if generation == self._generation:
                    if len(self._cache) >= _MAX_CACHED:
                        self._cache.clear()
                    self._cache[client_id] = (now + self._ttl, tuple(services))
        return services

    def add(self, service: Service) -> None:
        try:
            self._store.add(service)
        finally:
            self._forget(service.client_id)

    def remove(self, client_id: str, scope: str) -> bool:
        try:
            return self._store.remove(client_id, scope)
        finally:
            self._forget(client_id)

    def _forget(self, client_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._cache.pop(client_id, None)


_MAX_CACHED = 10_000  # clients; past it the cache starts over rather than growing


def _to_service(r: RowMapping) -> Service:
    return Service(
        client_id=r["client_id"], scope=r["scope"], min_level=r["min_level"], max_auth_age=r["max_auth_age"],
        profile=r["profile"], name_fa=r["name_fa"], name_en=r["name_en"],
    )
