"""The details of the audit events the legal-entities service reports.

Details name entities (their public national ID) and representations (their ids), never a person's
national code: the audit log is read by more people than the representations table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from legal_entities.models import Entity, ImportReport, Representation, Revoked

Audit = Callable[[str, Mapping[str, object]], None]
Event = tuple[str, dict[str, object]]


def report(audit: Audit, events: Sequence[Event]) -> None:
    """Hand `events` to `audit`, in one batch if the sink can write one (`audit.many`)."""
    many = getattr(audit, "many", None)
    if many is not None:
        many(events)
    else:
        for kind, detail in events:
            audit(kind, detail)


def granted(rep: Representation, national_id: str, *, by: str | None = None) -> Event:
    detail: dict[str, object] = {
        "id": rep.id,
        "national_id": national_id,
        "role": rep.role,
        "powers": sorted(rep.powers),
        "source": rep.source.value,
        "valid_until": rep.valid_until.isoformat() if rep.valid_until is not None else None,
    }
    if rep.parent_id is not None:
        detail["parent_id"] = rep.parent_id
    if by is not None:
        detail["by"] = by
    return "representation.granted", detail


def revoked(e: Revoked, national_id: str, actor: str, reason: str) -> Event:
    detail: dict[str, object] = {
        "id": e.id,
        "national_id": national_id,
        "role": e.role,
        "source": e.source,
        "reason": reason,
        "by": actor,
    }
    if e.root != e.id:
        detail["cascade_from"] = e.root
    return "representation.revoked", detail


def reparented(delegation: Representation, parent_id: str, national_id: str, actor: str) -> Event:
    return "representation.reparented", {
        "representation_id": delegation.id, "parent_id": parent_id, "national_id": national_id, "by": actor,
    }


def entity_created(entity: Entity, actor: str) -> Event:
    return "entity.created", {
        "national_id": entity.national_id,
        "name": entity.name,
        "type": entity.type,
        "status": entity.status.value,
        "min_level": entity.min_level,
        "by": actor,
    }


def entity_updated(national_id: str, fields: list[str], actor: str) -> Event:
    return "entity.updated", {"national_id": national_id, "fields": fields, "by": actor}


def status_changed(before: Entity, after: Entity, actor: str) -> Event:
    return "entity.status_changed", {
        "national_id": after.national_id, "from": before.status.value, "to": after.status.value, "by": actor,
    }


def min_level_changed(before: Entity, after: Entity, actor: str) -> Event:
    return "entity.min_level_changed", {
        "national_id": after.national_id, "from": before.min_level, "to": after.min_level, "by": actor,
    }


def imported(result: ImportReport, actor: str) -> Event:
    return "legal_entities.imported", {
        "entities_created": result.entities_created,
        "entities_updated": result.entities_updated,
        "entities_unchanged": result.entities_unchanged,
        "representations_added": result.representations_added,
        "representations_ended": result.representations_ended,
        "representations_unchanged": result.representations_unchanged,
        "by": actor,
    }
