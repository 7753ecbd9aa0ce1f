"""The "Act as" chooser: after sign-in, a client asking for scope `legal_entity` learns whom the
person acts for — themselves, or one of the entities they hold a mandate for with that client."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.signin.acting import SELF, Acting
from idp.signin.interaction import Interaction, pending_page, posted_pending
from idp.web.deps import PostedForm

router = APIRouter()

# Registry and delegation roles as people read them (anything else is shown as stored).
ROLE_NAMES = {
    "ceo": "Chief executive",
    "managing_director": "Managing director",
    "chair": "Chair of the board",
    "signatory": "Authorized signatory",
    "employee": "Employee",
    "agent": "Agent",
}


def _options(ctx: Interaction) -> list[Acting]:
    if ctx.client is None:
        return []
    return ctx.entity_options


def _show(ctx: Interaction, *, error: str | None = None, status_code: int = 200) -> Response:
    if ctx.client is None:
        return ctx.svc.pages.link_expired(ctx.request)
    return ctx.render("act_as.html", status_code=status_code, error=error, options=_options(ctx),
                      role_names=ROLE_NAMES, current=ctx.svc.acting.chosen(ctx.tx.id))


@router.get("/login/act-as")
def chooser(request: Request) -> Response:
    return pending_page(request, _show)


@router.post("/login/act-as")
def choose(request: Request, form_post: PostedForm) -> Response:
    posted = posted_pending(request, form_post, _show)
    if isinstance(posted, Response):
        return posted
    ctx, form = posted
    choice = form.get("choice", "")
    if choice != SELF and not any(o.mandate_id == choice for o in _options(ctx)):
        return _show(
            ctx, error="Choose yourself or one of the companies listed.", status_code=400)
    ctx.svc.acting.choose(ctx.tx.id, choice)
    return RedirectResponse(f"/authorize/resume?tx={ctx.tx.id}", status_code=303)
