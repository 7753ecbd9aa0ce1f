"""Account page "Companies I represent": the person's mandates, and for holders of the `delegate`
power, giving mandates to other people and taking them back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from clients.services import MAX_SCOPE_LENGTH, Service
from idp.account.common import COMPANIES
from idp.account.security import account_frame, confirm_first, posted_form, signed_in
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.signin.act_as import ROLE_NAMES
from idp.web.deps import PostedForm, services
from idp.web.i18n import format_day
from legal_entities.days import last_day, mandate_end
from legal_entities.errors import InvalidRepresentation
from legal_entities.models import ALL_POWERS, DELEGATE
from legal_entities.registry_fields import parse_day
from legal_entities.rules import DELEGATED_ROLES, DelegationRefused, can_delegate, is_current, may_act
from levels.iranian_input import InvalidNationalCode, normalize_digits, parse_national_code
from levels.level import Level
from levels.next_step import Issue, Snapshot, next_step
from levels.people import Person
from levels.requirement import Requirement

router = APIRouter()

UNKNOWN_SERVICE = "Choose services from the list. One of the chosen services is not offered."
# The rules' refusals that are about the services chosen, shown next to that field.
SERVICE_REFUSALS = frozenset({
    "Choose at least one power to delegate.", "These are not valid powers: %(powers)s.",
    "You cannot delegate powers you do not hold: %(powers)s."})
MAX_PICKED = 200
CONFIRM_TAKE_BACK = "Take this mandate back?"
CONFIRM_TAKE_BACK_DETAIL = "The person will no longer be able to act for the company with this mandate."


@dataclass(frozen=True, slots=True)
class OfferedServices:
    """The services of one registered client a mandate may cover, by the client's name."""

    client_name: str
    services: list[Service]


def offered_services(svc: Services, locale: str) -> list[OfferedServices]:
    """The client catalogue (`clients.services`): every enabled client's services, by client name.
    A mandate's services are scopes of this catalogue, so a person picks them by name rather than
    typing a code the companies' services may never ask for."""
    groups = []
    for client in svc.clients.list():
        if not client.enabled:
            continue
        offered = svc.services.services_for(client.client_id)
        if offered:
            named = sorted(offered, key=lambda s: s.display_name(locale))
            groups.append(OfferedServices(client.display_name(locale), named))
    return sorted(groups, key=lambda g: g.client_name)


def _page(svc: Services, request: Request, session: SsoSession, person: Person, *, status_code: int = 200,
          error: str | None = None, error_params: Mapping[str, object] | None = None, notice: str | None = None,
          form: dict[str, str] | None = None, error_field: str | None = None,
          chosen: frozenset[str] = frozenset()) -> Response:
    locale = svc.pages.locale(request)
    tr = svc.pages.gettext(locale)
    if error:
        # Rule messages carry their values apart, so the sentence is translated before they are filled in.
        error = tr.gettext(error) % {k: format_day(v, locale) if isinstance(v, date) else v
                                     for k, v in (error_params or {}).items()}
        error_params = None
    now = datetime.now(UTC)
    mandates = svc.acting.entities.mandates_of(person.national_code)
    offered = offered_services(svc, locale)
    return svc.pages.render(
        request, "account_companies.html", locale, status_code=status_code,
        person_name=f"{person.given_name} {person.family_name}".strip(), **account_frame(person),
        mandates=[(m, may_act(m, now), can_delegate(m, now)) for m in mandates],
        given=[m for m in svc.acting.entities.delegations_by(person.national_code)
               if is_current(m.representation, now)],
        last_day=last_day, role_names=ROLE_NAMES, delegated_roles=DELEGATED_ROLES, all_powers=ALL_POWERS,
        delegate_power=DELEGATE,
        error=error, notice=tr.gettext(notice) if notice else None,
        form=form or {}, error_field=error_field, offered=offered, chosen=chosen,
        # A mandate's services by name; the first agency's name where two offer the same scope.
        service_names={s.scope: s.display_name(locale) for g in reversed(offered) for s in g.services
                       if s.name_fa or s.name_en},
    )


@router.get(COMPANIES)
def companies(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, COMPANIES)
    if isinstance(who, Response):
        return who
    notice = {"granted": "The mandate was given.", "revoked": "The mandate was taken back."}.get(
        request.query_params.get("done", ""))
    return _page(svc, request, *who, notice=notice)


@router.post(f"{COMPANIES}/grant")
def grant(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, COMPANIES)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    fields = {k: str(form.get(k, ""))[:300] for k in ("entity", "national_code", "role", "until")}
    # At most one box per catalogue service and the two special powers; more is not a form we sent.
    picked = frozenset(str(p)[:MAX_SCOPE_LENGTH] for p in form.getlist("service")[:MAX_PICKED] if p)
    special = frozenset(str(p)[:16] for p in form.getlist("power")[:MAX_PICKED] if p)
    entity_id = normalize_digits(fields["entity"])
    mandate = svc.acting.entities.delegating_mandate(person.national_code, entity_id)

    def refuse(message: str, params: Mapping[str, object] | None = None, field: str | None = None) -> Response:
        return _page(svc, request, session, person, status_code=400, error=message, error_params=params,
                     form=fields, error_field=field, chosen=picked | special)

    if mandate is None:
        return refuse("You cannot give mandates for this company.", field="entity")
    if fields["role"] not in DELEGATED_ROLES:
        return refuse("Choose a role.", field="role")
    catalogue = {s.scope for group in offered_services(svc, "en") for s in group.services}
    if not picked <= catalogue or not special <= {ALL_POWERS, DELEGATE}:
        return refuse(UNKNOWN_SERVICE, field="services")
    powers = set(picked | special)
    # The one evaluator decides, as at sign-in: this session must reach the company's minimum level.
    reached = next_step(svc.policy, Snapshot(
        requirement=Requirement(Level(mandate.entity.min_level)), now=datetime.now(UTC), signed_in=True,
        tier=person.proofing_tier, factors=session.proven_factors()))
    if not isinstance(reached, Issue):
        return refuse("This company requires a stronger sign-in. Sign in again at the level it needs.")
    try:
        until = mandate_end(parse_day(fields["until"])) if fields["until"].strip() else None
    except ValueError:
        return refuse("Enter the end date as year/month/day, for example 1405/06/31.", field="until")
    try:
        # The one parser sign-in uses: a code typed without its leading zero (9 digits) is the same person.
        to = parse_national_code(fields["national_code"])
        representation = svc.acting.entities.delegate(
            entity_id, by=person.national_code, to=to, role=fields["role"], powers=frozenset(powers),
            valid_until=until)
    except DelegationRefused as err:
        return refuse(err.message, err.params, field="services" if err.message in SERVICE_REFUSALS else None)
    except InvalidNationalCode:
        return refuse("Enter the national code of the person, 10 digits.", field="national_code")
    except InvalidRepresentation:
        return refuse("The mandate could not be given. Check the form and try again.")
    svc.audit.record("legal_entity.mandate_given", person_id=person.id, detail={
        "mandate_id": representation.id, "entity": entity_id, "sid": session.sid})
    return RedirectResponse(f"{COMPANIES}?done=granted", status_code=303)


@router.post(f"{COMPANIES}/revoke")
def revoke(request: Request, form_post: PostedForm) -> Response:
    posted = posted_form(request, form_post, COMPANIES)
    if isinstance(posted, Response):
        return posted
    svc, session, person, form = posted
    mandate_id = str(form.get("mandate", ""))[:64]
    given = {m.representation.id: m for m in svc.acting.entities.delegations_by(person.national_code)}
    if mandate_id in given:
        # Only a mandate one gave is worth asking about; any other is refused below, as before.
        mandate = given[mandate_id]
        ask = confirm_first(
            svc, request, person, form, question=CONFIRM_TAKE_BACK, detail=CONFIRM_TAKE_BACK_DETAIL,
            confirm_label="Take back", action=f"{COMPANIES}/revoke", cancel_to=COMPANIES,
            fields={"mandate": mandate_id},
            subject=f"{mandate.entity.name} · {mandate.representation.national_code}")
        if ask is not None:
            return ask
    try:
        svc.acting.entities.take_back(mandate_id, by=person.national_code, actor=f"person:{person.id}")
    except DelegationRefused as err:
        return _page(svc, request, session, person, status_code=400, error=err.message, error_params=err.params)
    return RedirectResponse(f"{COMPANIES}?done=revoked", status_code=303)
