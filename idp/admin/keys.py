"""`/admin/v1/keys`: the signing keys, and rotating them, as `idp keys` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Security

from idp.admin.auth import Operator, read_scopes, write_scopes
from idp.admin.errors import responses
from idp.admin.schemas import KeyOut, KeyRotate, KeyRotated
from idp.cli.keys import key_dict, rotation_dict
from idp.services import Services
from keys.models import check_alg


def build_router(svc: Services, current: Callable[..., Operator]) -> APIRouter:
    """The group's operations; `current` is the operator dependency (`idp.admin.auth`)."""
    router = APIRouter(prefix="/keys", tags=["keys"])
    read = Security(current, scopes=read_scopes("keys"))
    write = Security(current, scopes=write_scopes("keys"))

    @router.get("", response_model=list[KeyOut], responses=responses(),
                summary="Every published key (next, active, retired)")
    def list_keys(operator: Operator = read) -> list[dict[str, Any]]:
        keyring = svc.keyring
        return [key_dict(k) for k in keyring.keys()]  # noqa: SIM118 - a key ring, not a dict

    @router.post("/rotate", response_model=KeyRotated, responses=responses(),
                 summary="Rotate now: next becomes active, active retires, a new next key is made")
    def rotate_keys(body: KeyRotate = Body(default_factory=KeyRotate), operator: Operator = write) -> dict[str, Any]:
        alg = check_alg(body.alg)
        plan = svc.keyring.rotate(alg, force=True)
        result = rotation_dict(alg, plan, svc.keyring.keys())
        # The keyring keeps no audit of its own: the rotation is recorded here, with who asked.
        svc.audit.record("keys.rotated", actor=operator.actor, detail=result)
        return result

    return router
