"""Exchange permissions: which agency may trade a person's token for one to call which agency's
inquiry services (OAuth 2.0 Token Exchange, RFC 8693).

A permission says client A (the requester) may exchange a person's access token for a token
addressed to client B (the audience: B's client_id, the name a resource server has here, the one
introspection already checks in `aud`) for `scope`, one of the services in B's catalogue
(`clients.services`). An operator states each one; nothing is allowed by default.
`ExchangePermissions` is the one way they change: it validates with `check_permission` and against
the registry and B's catalogue, stores and audits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, RowMapping, and_, bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from clients.errors import InvalidField
from clients.models import _SCOPE_TOKEN, is_client_id
from clients.registry import ClientRegistry, utcnow
from clients.services import ServiceStore
from clients.store import UnknownClient
from clients.store_sql import ExchangePermissionRow

__all__ = [
    "ExchangePermission", "ExchangePermissions", "ExchangeStore", "InvalidExchange", "SqlExchangeStore",
    "check_permission",
]

Audit = Callable[[str, Mapping[str, object]], None]


class InvalidExchange(InvalidField):
    """An exchange permission breaks a rule."""


@dataclass(frozen=True, slots=True)
class ExchangePermission:
    """`client_id` may exchange a person's token for one addressed to `audience` (a client_id),
    carrying `scope` (one of the audience's services)."""

    client_id: str
    audience: str
    scope: str


def check_permission(permission: ExchangePermission) -> None:
    """Raise `InvalidExchange` naming the first field that breaks a rule: client ids of the shape
    every client_id has, two different clients, and an RFC 6749 §3.3 scope token."""
    if not is_client_id(permission.client_id):
        raise InvalidExchange("client_id", f"{permission.client_id!r} is not a client_id")
    if not is_client_id(permission.audience):
        raise InvalidExchange("audience", f"{permission.audience!r} is not a client_id")
    if permission.client_id == permission.audience:
        raise InvalidExchange("audience", "a client cannot exchange tokens to call itself")
    scope = permission.scope
    if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
        raise InvalidExchange("scope", f"{scope!r} is not a valid scope token")


class ExchangeStore(Protocol):
    """Durable exchange permissions. Stores values as given; validates nothing."""

    def for_client(self, client_id: str) -> list[ExchangePermission]:
        """The permissions of requester `client_id`, ordered by audience and scope."""
        ...

    def list(self) -> list[ExchangePermission]:
        """Every permission, ordered by requester, audience and scope."""
        ...

    def add(self, permissions: Iterable[ExchangePermission]) -> None:
        """Store the permissions (one already stored stays as it is). Raise `UnknownClient` if a
        requester, audience or audience's service does not exist."""
        ...

    def remove(self, client_id: str, audience: str, scopes: Iterable[str] | None = None) -> list[str]:
        """Delete the requester's permissions for `audience` (only `scopes`, if given); return the
        scopes removed, sorted."""
        ...


_T = ExchangePermissionRow.__table__
_ORDER = (_T.c.client_id, _T.c.audience, _T.c.scope)
_FOR_CLIENT = select(_T.c.client_id, _T.c.audience, _T.c.scope).where(
    _T.c.client_id == bindparam("client_id")).order_by(*_ORDER)


class SqlExchangeStore:
    """An `ExchangeStore` on the `exchange_permissions` table. A permission goes when either client
    is deleted or the audience's service is removed (foreign keys), so none outlives what it names."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def for_client(self, client_id: str) -> list[ExchangePermission]:
        with self._engine.connect() as conn:
            rows = conn.execute(_FOR_CLIENT, {"client_id": client_id}).mappings().all()
        return [_to_permission(r) for r in rows]

    def list(self) -> list[ExchangePermission]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(_T.c.client_id, _T.c.audience, _T.c.scope).order_by(*_ORDER)).mappings().all()
        return [_to_permission(r) for r in rows]

    def add(self, permissions: Iterable[ExchangePermission]) -> None:
        wanted = list(dict.fromkeys(permissions))
        if not wanted:
            return
        now = self._clock().astimezone(UTC)
        try:
            with self._engine.begin() as conn:
                present = self._stored(conn, wanted)
                new = [p for p in wanted if p not in present]
                if new:
                    conn.execute(_T.insert(), [
                        {"client_id": p.client_id, "audience": p.audience, "scope": p.scope, "created_at": now}
                        for p in new])
        except IntegrityError:
            # A foreign key (the requester, the audience or its service is gone), or a concurrent
            # writer stored the same permission first, which is what was asked for anyway.
            with self._engine.connect() as conn:
                present = self._stored(conn, wanted)
            missing = [p for p in wanted if p not in present]
            if missing:
                raise UnknownClient(missing[0].client_id) from None

    @staticmethod
    def _stored(conn: Connection, wanted: list[ExchangePermission]) -> set[ExchangePermission]:
        rows = conn.execute(select(_T.c.client_id, _T.c.audience, _T.c.scope).where(
            _T.c.client_id.in_(sorted({p.client_id for p in wanted})))).mappings()
        return {_to_permission(r) for r in rows}

    def remove(self, client_id: str, audience: str, scopes: Iterable[str] | None = None) -> list[str]:
        where = and_(_T.c.client_id == client_id, _T.c.audience == audience)
        if scopes is not None:
            where = and_(where, _T.c.scope.in_(list(scopes)))
        with self._engine.begin() as conn:
            gone = sorted(conn.execute(select(_T.c.scope).where(where)).scalars())
            if gone:
                conn.execute(delete(_T).where(where))
        return gone


class ExchangePermissions:
    """Exchange permissions between registered clients, changed with validation and auditing."""

    def __init__(
        self, registry: ClientRegistry, store: ExchangeStore, services: ServiceStore, *, audit: Audit | None = None,
    ) -> None:
        self._registry = registry
        self._store = store
        self._services = services
        self._audit = audit

    def allow(self, client_id: str, audience: str, scopes: Iterable[str]) -> list[ExchangePermission]:
        """Let `client_id` exchange a person's token for one to call `audience` for each of `scopes`
        (each one of the audience's services); return the permissions now held for the pair.

        Raises `InvalidExchange` (a bad or missing scope, the same client twice, a requester that
        cannot authenticate) or `UnknownClient`.
        """
        wanted = list(dict.fromkeys(scopes))
        if not wanted:
            raise InvalidExchange("scope", "name at least one of the audience's services")
        permissions = [ExchangePermission(client_id, audience, scope) for scope in wanted]
        for permission in permissions:
            check_permission(permission)
        requester = self._registry.existing(client_id)
        self._registry.existing(audience)
        if requester.is_public:
            # RFC 8693 §2.1: the exchange is made at the token endpoint with client authentication.
            raise InvalidExchange("client_id", f"{client_id!r} is a public client and cannot authenticate to exchange")
        services = {s.scope for s in self._services.services_for(audience)}
        for scope in wanted:
            if scope not in services:
                raise InvalidExchange("scope", f"{scope!r} is not one of the services of {audience!r}")
        self._store.add(permissions)
        self._record("client.exchange_allowed", client_id, audience=audience, scopes=wanted)
        return self.for_pair(client_id, audience)

    def revoke(self, client_id: str, audience: str, scopes: Iterable[str] | None = None) -> list[str]:
        """Withdraw `client_id`'s permissions for `audience` (only `scopes`, if given); return the
        scopes withdrawn, [] if there were none. Raises `UnknownClient`."""
        self._registry.existing(client_id)
        self._registry.existing(audience)
        gone = self._store.remove(client_id, audience, None if scopes is None else list(dict.fromkeys(scopes)))
        if gone:
            self._record("client.exchange_revoked", client_id, audience=audience, scopes=gone)
        return gone

    def list(self, client_id: str | None = None) -> list[ExchangePermission]:
        """Every permission, or the requester's; raises `UnknownClient` for an unknown requester."""
        if client_id is None:
            return self._store.list()
        self._registry.existing(client_id)
        return self._store.for_client(client_id)

    def for_pair(self, client_id: str, audience: str) -> list[ExchangePermission]:
        return [p for p in self._store.for_client(client_id) if p.audience == audience]

    def _record(self, event: str, client_id: str, **detail: object) -> None:
        if self._audit is not None:
            self._audit(event, {"client_id": client_id, **detail})


def _to_permission(r: RowMapping) -> ExchangePermission:
    return ExchangePermission(client_id=r["client_id"], audience=r["audience"], scope=r["scope"])
