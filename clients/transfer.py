"""Clients carried between environments (test → production, one provider to another): a document
of clients, each with its services and, if asked for, its secret hash, that `export_clients` writes
and `read_document` + `import_clients` read back to the same clients.

Reading checks the whole document before anything is stored, so a document with one bad client
changes nothing: the administrator fixes the file and runs the import again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

from clients.errors import InvalidField
from clients.models import Client, check_client_metadata, plain_fields
from clients.registry import ClientRegistry
from clients.services import Service, ServiceCatalogue, check_service

__all__ = ["FORMAT", "ClientBundle", "InvalidDocument", "export_clients", "import_clients", "read_document"]

FORMAT = "idp-clients/1"
# A rotation's grace period belongs to the environment it happened in; it does not travel.
_CLIENT_FIELDS = frozenset(f.name for f in fields(Client)) - {
    "created_at", "updated_at", "previous_secret_hash", "previous_secret_expires_at"}
_SERVICE_FIELDS = ("scope", "min_level", "max_auth_age", "profile", "name_fa", "name_en")
_LISTS = ("redirect_uris", "post_logout_redirect_uris", "grant_types", "scopes", "audiences", "contacts")


class InvalidDocument(InvalidField):
    """The document, or one client in it, is not what an import can take; the field names where."""


@dataclass(frozen=True, slots=True)
class ClientBundle:
    """One client of a document and its services."""

    client: Client
    services: tuple[Service, ...] = field(default=())


def export_clients(registry: ClientRegistry, catalogue: ServiceCatalogue, client_ids: Iterable[str] = (), *,
                   with_secret_hashes: bool = False) -> dict[str, object]:
    """The document for `client_ids` (every client when empty), ordered by client_id. Secret hashes
    only when asked for: the document then lets whoever holds it check guesses of the secrets."""
    wanted = list(dict.fromkeys(client_ids))
    clients = [registry.existing(c) for c in wanted] if wanted else registry.list()
    out = []
    for client in sorted(clients, key=lambda c: c.client_id):
        entry: dict[str, object] = plain_fields(client)
        if with_secret_hashes and client.secret_hash is not None:
            entry["secret_hash"] = client.secret_hash
        entry["services"] = [{k: getattr(s, k) for k in _SERVICE_FIELDS}
                             for s in catalogue.services_for(client.client_id)]
        out.append(entry)
    return {"format": FORMAT, "clients": out}


def read_document(document: object) -> list[ClientBundle]:
    """Every client of `document`, each checked as registration checks it; raises `InvalidDocument`
    naming the first thing wrong (`clients[2].redirect_uris: …`)."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise InvalidDocument("format", f"must be {FORMAT!r} (a document written by `idp clients export`)")
    entries = document.get("clients")
    if not isinstance(entries, list):
        raise InvalidDocument("clients", "must be a list")
    bundles, seen = [], set()
    for index, entry in enumerate(entries):
        where = f"clients[{index}]"
        bundle = _bundle(entry, where)
        if bundle.client.client_id in seen:
            raise InvalidDocument(f"{where}.client_id", f"{bundle.client.client_id!r} appears twice")
        seen.add(bundle.client.client_id)
        bundles.append(bundle)
    return bundles


def import_clients(registry: ClientRegistry, catalogue: ServiceCatalogue, bundles: Sequence[ClientBundle], *,
                   replace_existing: bool = False) -> dict[str, list[str]]:
    """Store the clients and their services; return the client_ids created and replaced. Without
    `replace_existing`, any client that exists already stops the import before anything is stored."""
    if not replace_existing:
        taken = [b.client.client_id for b in bundles if registry.get(b.client.client_id) is not None]
        if taken:
            raise InvalidDocument("clients", f"{taken[0]!r} exists already (give --replace to replace it)")
    report: dict[str, list[str]] = {"created": [], "replaced": []}
    for bundle in bundles:
        _, created = registry.import_client(bundle.client, replace_existing=replace_existing)
        report["created" if created else "replaced"].append(bundle.client.client_id)
        for service in bundle.services:
            catalogue.add(service)
    return report


def _bundle(entry: object, where: str) -> ClientBundle:
    if not isinstance(entry, Mapping):
        raise InvalidDocument(where, "must be an object")
    services = entry.get("services", [])
    given = {k: v for k, v in entry.items() if k != "services"}
    unknown = sorted(set(given) - _CLIENT_FIELDS)
    if unknown:
        raise InvalidDocument(f"{where}.{unknown[0]}", "is not a client field")
    for name in ("client_id", "name", "token_endpoint_auth_method"):
        if name not in given:
            raise InvalidDocument(f"{where}.{name}", "is required")
    for name in _LISTS:
        value = given.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidDocument(f"{where}.{name}", "must be a list of strings")
        given[name] = tuple(value)
    try:
        client = Client(**given)
        check_client_metadata(client)
    except InvalidField as exc:
        raise InvalidDocument(f"{where}.{exc.field}", exc.reason) from None
    except TypeError as exc:
        raise InvalidDocument(where, str(exc)) from None
    if not isinstance(services, list):
        raise InvalidDocument(f"{where}.services", "must be a list")
    read = []
    for number, raw in enumerate(services):
        place = f"{where}.services[{number}]"
        if not isinstance(raw, Mapping) or set(raw) - set(_SERVICE_FIELDS) or not {"scope", "min_level"} <= set(raw):
            raise InvalidDocument(
                place, f"must be an object with a scope, a min_level and only {', '.join(_SERVICE_FIELDS)}")
        service = Service(client.client_id, **{k: raw.get(k) for k in _SERVICE_FIELDS if k in raw})  # type: ignore[arg-type]
        try:
            check_service(service)
        except InvalidField as exc:
            raise InvalidDocument(f"{place}.{exc.field}", exc.reason) from None
        read.append(service)
    return ClientBundle(client, tuple(read))
