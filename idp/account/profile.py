"""Account page "Profile": who the account belongs to, how sure we are of it (the proofing tier) and
how to raise that: the civil registry check from here (P1 → P2), a counter office for P3."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.common import ACCOUNT_HOME, ACTIVATED, ACTIVATED_NOTICE
from idp.account.security import posted_form, render_account, signed_in
from idp.services import Services
from idp.web.deps import PostedForm, services
from levels.people import Person
from levels.sms import mask_mobile

router = APIRouter()

PROOFING = "/account/proofing"
REGISTRY_CONFIRMED = "The civil registry confirmed your details. Your identity is now confirmed to level 2."
REGISTRY_REFUSED = "The registry could not confirm your details."
# `/account?done=...`: what the page says after an action that ended here.
_NOTICES = {"verified": REGISTRY_CONFIRMED, ACTIVATED: ACTIVATED_NOTICE}


def can_use_registry(person: Person) -> bool:
    """The registry check needs a birth date and a mobile number proven by a code."""
    return person.proofing_tier < 2 and person.birthdate is not None and bool(person.mobile) and person.mobile_verified


def _page(svc: Services, request: Request, person: Person, *, status_code: int = 200, error: str | None = None,
          notice: str | None = None) -> Response:
    return render_account(
        svc, request, "account_profile.html", person, status_code=status_code, error=error, notice=notice,
        mobile=mask_mobile(person.mobile) if person.mobile else None,
        can_use_registry=can_use_registry(person),
    )


@router.get(ACCOUNT_HOME)
def profile(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, ACCOUNT_HOME)
    if isinstance(who, Response):
        return who
    notice = _NOTICES.get(request.query_params.get("done", ""))
    return _page(svc, request, who[1], notice=notice)


@router.post(PROOFING)
def verify_with_registry(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, ACCOUNT_HOME)
    if isinstance(posted, Response):
        return posted
    svc, _, person, _ = posted
    if person.proofing_tier >= 2:
        return RedirectResponse(ACCOUNT_HOME, status_code=303)  # nothing left for the registry to confirm
    result = svc.proofing.verify_with_registry(person.id)
    if not result.ok:
        return _page(svc, request, result.person, status_code=400, error=REGISTRY_REFUSED)
    return RedirectResponse(f"{ACCOUNT_HOME}?done=verified", status_code=303)
