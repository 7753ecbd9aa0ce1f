"""`/admin/v1/people`: looking people up and the administrator's actions on an account, through
`idp.people_admin.PeopleAdmin` as `idp people` does them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Security

from idp.admin.auth import Operator, read_scopes, write_scopes
from idp.admin.errors import AdminError, not_found, responses
from idp.admin.schemas import Enabled, Ended, PeoplePage, PersonOut, Unlocked
from idp.cli.people_admin import ended_dict, person_brief
from idp.people_admin import PeopleAdmin
from idp.services import Services
from levels.iranian_input import normalize_digits, parse_national_code
from levels.people import Person, SqlPersonStore

NationalCode = Path(..., description="The person's national code (10 digits).", max_length=32)


def build_router(svc: Services, current: Callable[..., Operator]) -> APIRouter:
    """The group's operations; `current` is the operator dependency (`idp.admin.auth`)."""
    router = APIRouter(prefix="/people", tags=["people"])
    read = Security(current, scopes=read_scopes("people"))
    write = Security(current, scopes=write_scopes("people"))

    def admin(operator: Operator) -> PeopleAdmin:
        return PeopleAdmin(svc, operator.client_id, kind="client", in_process=True)

    def person(national_code: str) -> Person:
        found = svc.people.get_by_national_code(parse_national_code(national_code))
        if found is None:
            raise not_found("No person with this national code.")
        return found

    @router.get("", response_model=PeoplePage, responses=responses(),
                summary="People in national-code order, a page at a time")
    def list_people(
        after: Annotated[str | None, Query(max_length=32, description="Start after this national code.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
        code_prefix: Annotated[str | None, Query(max_length=32, description="The first digits of a national code.")]
        = None,
        operator: Operator = read,
    ) -> dict[str, Any]:
        digits = ""
        if code_prefix:
            digits = normalize_digits(code_prefix).replace(" ", "").replace("-", "")
            if not digits.isdigit() or len(digits) > 10:
                raise AdminError(400, "invalid_request", "code_prefix: give up to 10 digits of a national code.")
        store = svc.people
        assert isinstance(store, SqlPersonStore)
        found = store.page(after=normalize_digits(after) if after else None, limit=limit, status=status,
                           code_prefix=digits)
        return {"people": [person_brief(p) for p in found],
                "next_after": found[-1].national_code if len(found) == limit else None}

    @router.get("/{national_code}", response_model=PersonOut, responses=responses(404), summary="One person")
    def get_person(national_code: str = NationalCode, operator: Operator = read) -> dict[str, Any]:
        return person_brief(person(national_code))

    @router.post("/{national_code}/disable", response_model=Ended, responses=responses(404),
                 summary="Stop the person signing in; their sessions end and their services are told")
    def disable_person(national_code: str = NationalCode, operator: Operator = write) -> dict[str, Any]:
        return {"status": "disabled", **ended_dict(admin(operator).disable(person(national_code)))}

    @router.post("/{national_code}/enable", response_model=Enabled, responses=responses(404),
                 summary="Let a disabled person sign in again")
    def enable_person(national_code: str = NationalCode, operator: Operator = write) -> dict[str, Any]:
        return {"status": "active", "changed": admin(operator).enable(person(national_code))}

    @router.post("/{national_code}/sign-out", response_model=Ended, responses=responses(404),
                 response_model_exclude_none=True, summary="End every session of the person on every device")
    def sign_out_person(national_code: str = NationalCode, operator: Operator = write) -> dict[str, Any]:
        return ended_dict(admin(operator).sign_out(person(national_code)))

    @router.post("/{national_code}/unlock", response_model=Unlocked, responses=responses(404),
                 summary="Lift the block too many failed sign-ins put on the account")
    def unlock_person(national_code: str = NationalCode, operator: Operator = write) -> dict[str, Any]:
        admin(operator).unlock(person(national_code))
        return {"unlocked": True}

    return router
