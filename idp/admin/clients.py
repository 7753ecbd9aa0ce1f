"""`/admin/v1/clients`: the client registry and each client's services, as `idp clients` does them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Body, Path, Security

from clients.registry import ClientRegistry
from clients.sector import HttpSectorFetcher
from clients.services import Service, ServiceCatalogue, SqlServiceStore
from clients.store_sql import SqlClientStore
from idp.admin.auth import Operator, read_scopes, write_scopes
from idp.admin.errors import AdminError, not_found, responses
from idp.admin.schemas import (
    ClientCreate,
    ClientCreated,
    ClientOut,
    ClientUpdate,
    Deleted,
    RotateSecret,
    SecretRotated,
    ServiceIn,
    ServiceOut,
    ServiceRemoved,
)
from idp.cli.client_services import service_dict
from idp.cli.clients import SECRET_NOTE, check_client_scopes, client_dict
from idp.services import Services

ClientId = Path(..., description="The client's client_id.", max_length=255)
# Fields that may be emptied with null on update; null for any other is refused.
_LISTS = {"redirect_uris", "post_logout_redirect_uris", "scopes", "audiences", "grant_types", "contacts"}
_NULLABLE = {"jwks", "backchannel_logout_uri", "frontchannel_logout_uri", "sector_identifier_uri", "profile",
             "name_fa", "name_en", "logo_uri", "client_uri", "policy_uri", "tos_uri"}


def registry(svc: Services, operator: Operator) -> ClientRegistry:
    """The registry as the command line builds it (no cache: every call reads the clients as they
    are now), auditing as the operator client."""
    return ClientRegistry(SqlClientStore(svc.engine), cache_ttl=0, audit=svc.audit.sink(operator.actor),
                          sector_fetch=HttpSectorFetcher())


def catalogue(svc: Services, operator: Operator) -> ServiceCatalogue:
    return ServiceCatalogue(registry(svc, operator), SqlServiceStore(svc.engine), audit=svc.audit.sink(operator.actor))


def _changes(body: ClientUpdate) -> tuple[dict[str, object], list[str]]:
    sent = body.model_dump(exclude_unset=True)
    new = list(sent.pop("new_scopes", None) or ())
    changes: dict[str, object] = {}
    for field, value in sent.items():
        if value is None:
            if field in _LISTS:
                value = ()
            elif field not in _NULLABLE:
                raise AdminError(400, "invalid_request", f"{field}: cannot be null")
        changes[field] = value
    return changes, new


def build_router(svc: Services, current: Callable[..., Operator]) -> APIRouter:
    """The group's operations; `current` is the operator dependency (`idp.admin.auth`)."""
    router = APIRouter(prefix="/clients", tags=["clients"])
    read = Security(current, scopes=read_scopes("clients"))
    write = Security(current, scopes=write_scopes("clients"))

    @router.get("", response_model=list[ClientOut], responses=responses(), summary="List every client")
    def list_clients(operator: Operator = read) -> list[dict[str, Any]]:
        return [client_dict(c) for c in registry(svc, operator).list()]

    @router.post("", response_model=ClientCreated, status_code=201, responses=responses(409),
                 summary="Register a client; its secret, if it has one, is in this answer only")
    def create_client(body: ClientCreate, operator: Operator = write) -> dict[str, Any]:
        fields = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        new = list(fields.pop("new_scopes", None) or ())
        clients = registry(svc, operator)
        check_client_scopes(clients, fields, new)
        client, secret = clients.create(**fields)  # type: ignore[arg-type]
        return {"client": client_dict(client), "client_secret": secret, **({"note": SECRET_NOTE} if secret else {})}

    @router.get("/{client_id}", response_model=ClientOut, responses=responses(404), summary="One client")
    def get_client(client_id: str = ClientId, operator: Operator = read) -> dict[str, Any]:
        client = registry(svc, operator).get(client_id)
        if client is None:
            raise not_found(f"No client {client_id!r}.")
        return client_dict(client)

    @router.patch("/{client_id}", response_model=ClientOut, responses=responses(404),
                  summary="Change a client's fields (only those sent; a list replaces the whole list)")
    def update_client(body: ClientUpdate, client_id: str = ClientId, operator: Operator = write) -> dict[str, Any]:
        changes, new = _changes(body)
        if not changes and not new:
            raise AdminError(400, "invalid_request", "Nothing to change: send at least one field.")
        clients = registry(svc, operator)
        if new and "scopes" not in changes:
            changes["scopes"] = clients.existing(client_id).scopes
        check_client_scopes(clients, changes, new)
        return client_dict(clients.update(client_id, **changes))

    @router.post("/{client_id}/rotate-secret", response_model=SecretRotated, responses=responses(404),
                 summary="Issue a new secret; the old one stops now, or after grace_hours")
    def rotate_secret(body: RotateSecret = Body(default_factory=RotateSecret), client_id: str = ClientId,
                      operator: Operator = write) -> dict[str, Any]:
        grace = body.grace_hours
        secret = registry(svc, operator).rotate_secret(client_id, timedelta(hours=grace) if grace else None)
        return {"client_id": client_id, "client_secret": secret, "old_secret_works_for_hours": grace or 0,
                "note": SECRET_NOTE}

    @router.post("/{client_id}/disable", response_model=ClientOut, responses=responses(404),
                 summary="Disable a client: it can no longer authenticate or sign anyone in")
    def disable_client(client_id: str = ClientId, operator: Operator = write) -> dict[str, Any]:
        return client_dict(registry(svc, operator).set_enabled(client_id, False))

    @router.post("/{client_id}/enable", response_model=ClientOut, responses=responses(404),
                 summary="Enable a disabled client")
    def enable_client(client_id: str = ClientId, operator: Operator = write) -> dict[str, Any]:
        return client_dict(registry(svc, operator).set_enabled(client_id, True))

    @router.delete("/{client_id}", response_model=Deleted, responses=responses(404),
                   summary="Delete a client for good (disable it instead to keep its record)")
    def delete_client(client_id: str = ClientId, operator: Operator = write) -> dict[str, Any]:
        registry(svc, operator).delete(client_id)
        return {"client_id": client_id, "deleted": True}

    @router.get("/{client_id}/services", response_model=list[ServiceOut], responses=responses(404),
                summary="A client's services")
    def list_services(client_id: str = ClientId, operator: Operator = read) -> list[dict[str, Any]]:
        return [service_dict(s) for s in catalogue(svc, operator).services_for(client_id)]

    @router.put("/{client_id}/services/{scope}", response_model=ServiceOut, responses=responses(404),
                summary="Add a service, or replace the client's service with this scope")
    def put_service(body: ServiceIn, client_id: str = ClientId,
                    scope: str = Path(..., max_length=128, description="The service's scope, e.g. tax.file."),
                    operator: Operator = write) -> dict[str, Any]:
        service = Service(client_id, scope, body.min_level, body.max_auth_age, body.profile, body.name_fa,
                          body.name_en)
        return service_dict(catalogue(svc, operator).add(service))

    @router.delete("/{client_id}/services/{scope}", response_model=ServiceRemoved, responses=responses(404),
                   summary="Remove a service (its scope stays registered with the client)")
    def delete_service(client_id: str = ClientId, scope: str = Path(..., max_length=128),
                       operator: Operator = write) -> dict[str, Any]:
        if not catalogue(svc, operator).remove(client_id, scope):
            raise not_found(f"Client {client_id!r} has no service {scope!r}.")
        return {"client_id": client_id, "scope": scope, "removed": True}

    return router
