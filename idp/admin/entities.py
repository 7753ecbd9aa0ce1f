"""`/admin/v1/entities`: a legal entity with its representations, and granting and revoking an
operator's mandate, through `legal_entities.service.LegalEntities` as `idp entities` does them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Security

from idp.admin.auth import Operator, read_scopes, write_scopes
from idp.admin.errors import not_found, responses
from idp.admin.schemas import EntityWithRepresentations, MandateIn, MandateRevoke, MandateRevoked, RepresentationOut
from idp.cli.entities import entity_dict, representation_dict
from idp.services import Services
from legal_entities.days import mandate_end, mandate_start
from legal_entities.errors import UnknownRepresentation
from legal_entities.registry_file import parse_day, parse_powers, parse_role
from legal_entities.service import LegalEntities
from legal_entities.store_sql import SqlLegalEntitiesStore
from levels.iranian_input import parse_national_code, parse_national_id

NationalId = Path(..., description="The entity's 11-digit national ID.", max_length=32)


def build_router(svc: Services, current: Callable[..., Operator]) -> APIRouter:
    """The group's operations; `current` is the operator dependency (`idp.admin.auth`)."""
    router = APIRouter(prefix="/entities", tags=["legal entities"])
    read = Security(current, scopes=read_scopes("entities"))
    write = Security(current, scopes=write_scopes("entities"))

    def entities(operator: Operator) -> LegalEntities:
        return LegalEntities(SqlLegalEntitiesStore(svc.engine), svc.audit.sink(operator.actor))

    @router.get("/{national_id}", response_model=EntityWithRepresentations, responses=responses(404),
                summary="An entity and the representations of the people who act for it")
    def get_entity(
        national_id: str = NationalId,
        include_ended: Annotated[bool, Query(description="Include ended and revoked representations.")] = False,
        operator: Operator = read,
    ) -> dict[str, Any]:
        service = entities(operator)
        entity = service.entity(parse_national_id(national_id))
        if entity is None:
            raise not_found("No legal entity with this national ID.")
        return {"entity": entity_dict(entity),
                "representations": [representation_dict(r)
                                    for r in service.representations(entity.id, include_ended=include_ended)]}

    @router.post("/{national_id}/mandates", response_model=RepresentationOut, status_code=201,
                 responses=responses(404), summary="Grant a mandate, on documents the operator has seen")
    def grant_mandate(body: MandateIn, national_id: str = NationalId, operator: Operator = write) -> dict[str, Any]:
        rep = entities(operator).grant(
            parse_national_id(national_id), parse_national_code(body.national_code),
            role=parse_role(body.role), powers=parse_powers(body.powers),
            valid_from=mandate_start(parse_day(body.valid_from)) if body.valid_from else None,
            valid_until=mandate_end(parse_day(body.valid_until)) if body.valid_until else None,
            operator=operator.actor)
        return representation_dict(rep)

    @router.post("/mandates/{representation_id}/revoke", response_model=MandateRevoked, responses=responses(404),
                 summary="Revoke a representation at once, and every delegation that derives from it")
    def revoke_mandate(
        body: MandateRevoke = Body(default_factory=MandateRevoke),
        representation_id: str = Path(..., max_length=64, description="The representation's id."),
        operator: Operator = write,
    ) -> dict[str, Any]:
        service = entities(operator)
        mandate = service.mandate(representation_id)
        if mandate is None:
            raise UnknownRepresentation(representation_id)
        revoked_at = mandate.representation.revoked_at
        ids = [] if revoked_at else service.revoke(
            representation_id, actor=operator.actor, reason=body.reason or "revoked by an operator")
        return {"id": representation_id, "revoked": ids, "already_revoked": revoked_at is not None}

    return router
