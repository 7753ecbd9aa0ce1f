"""Account page "Activity": the person's last sign-ins and security events from the audit log, in
plain words, newest first, with when, from which IP and for which service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from idp.account.common import HISTORY, client_names
from idp.account.security import render_account, signed_in
from idp.services import Services
from idp.web.deps import services
from idp.web.i18n import format_day
from legal_entities.days import TEHRAN
from levels.people import Person

router = APIRouter()

SHOWN = 50

# What each kind of event means to the person (the Persian is in locales/fa/LC_MESSAGES/account.po).
EVENT_TEXT = {
    "person.registered": "Account created",
    "login.succeeded": "Signed in",
    "login.failed": "Failed sign-in attempt",
    "login.step_up": "Confirmed it's you again",
    "password.reset": "Password reset with a code sent to your mobile",
    "password.changed": "Password changed",
    "password.change_failed": "Wrong current password when changing the password",
    "authenticator.totp_added": "Authenticator app set up",
    "authenticator.passkey_added": "Passkey added",
    "session.ended": "Session ended",
    "consent.granted": "Allowed a service to receive your information",
    "consent.denied": "Did not allow a service to receive your information",
    "service.disconnected": "Disconnected a service",
    "token.revoked": "A service gave up its access",
    "token.refresh_reused": "A service's access was ended because an old token of it was used again",
    "proofing.tier_raised": "Identity confirmed to a higher level",
    "proofing.failed": "The civil registry could not confirm your details",
    "legal_entity.acted": "Acted for a company",
    "legal_entity.mandate_given": "Gave a mandate for a company",
    "token.exchanged": "An agency asked another for your information",
    "office.verified_in_person": "Verified in person at a counter office",
    "office.lookup": "An operator at a counter office looked up your national code",
    "office.registered": "Account created for you at a counter office",
}
# An in-person verification at a counter office (idp.office.console), with the office and the day.
OFFICE_TEXT = "Verified in person at office {office} on {day}"
# An inter-agency inquiry (RFC 8693 token exchange) in full: who asked whom for what.
EXCHANGE_TEXT = "{requester} asked {audience} for {scope} on your behalf"
OTHER_EVENT = "Other activity"
# Why a session ended (`SingleLogout` reasons).
END_REASON_TEXT = {
    "signed_out": "signed out from the account page",
    "everywhere": "signed out everywhere",
    "rp_logout": "signed out from a service",
    "other_sign_in": "another account signed in on the same device",
    "password_changed": "the password was changed",
    "password_reset": "the password was reset",
    "expired": "the session expired",
    "operator": "by an operator",
}


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    text: str  # already in the page language
    kind: str | None  # the raw kind, shown only when it has no words of its own
    ip: str | None
    service: str | None


def _isolated(text: str) -> str:
    return f"\u2068{text}\u2069"


def describe(
    kind: str, detail: object, gettext: Callable[[str], str], name_of: Callable[[str], str] = str,
) -> tuple[str, str | None]:
    """The event in words, and the raw kind when there are none. `name_of`: a client's display name."""
    if kind not in EVENT_TEXT:
        return gettext(OTHER_EVENT), kind
    text = gettext(EVENT_TEXT[kind])
    if kind == "token.exchanged" and isinstance(detail, dict) and detail.get("requester") \
            and detail.get("audience") and detail.get("scope"):
        # Names and scopes are often in the other script: each is isolated (Unicode FSI ... PDI, the
        # plain-text <bdi>) so a Persian sentence keeps its order around an English name.
        return gettext(EXCHANGE_TEXT).format(
            requester=_isolated(name_of(str(detail["requester"]))),
            audience=_isolated(name_of(str(detail["audience"]))), scope=_isolated(str(detail["scope"]))), None
    if kind == "office.verified_in_person" and isinstance(detail, dict) and detail.get("office_name") \
            and detail.get("day"):
        return gettext(OFFICE_TEXT).format(office=_isolated(str(detail["office_name"])), day=detail["day"]), None
    if kind == "session.ended" and isinstance(detail, dict):
        reason = detail.get("reason")
        if isinstance(reason, str) and reason in END_REASON_TEXT:
            text = f"{text} ({gettext(END_REASON_TEXT[reason])})"
    return text, None


def events(svc: Services, person: Person, gettext: Callable[[str], str], locale: str = "en") -> list[Event]:
    name_of = client_names(svc, locale)

    def service(client_id: str | None) -> str | None:
        return name_of(client_id) if client_id else None  # None: the account pages themselves

    out = []
    for row in svc.audit.for_person(person.id, limit=SHOWN):
        detail = row.detail
        if row.kind == "token.exchanged" and isinstance(detail, dict):
            detail = {**detail, "requester": row.client_id}
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)  # SQLite keeps no time zone
        if row.kind == "office.verified_in_person" and isinstance(detail, dict):
            detail = {**detail, "office_name": detail.get(f"name_{locale}") or detail.get("office"),
                      "day": format_day(at.astimezone(TEHRAN).date(), locale)}
        text, kind = describe(row.kind, detail, gettext, name_of)
        out.append(Event(at=at, text=text, kind=kind, ip=row.ip, service=service(row.client_id)))
    return out


def _page(svc: Services, request: Request, person: Person) -> Response:
    locale = svc.pages.locale(request)
    gettext = svc.pages.gettext(locale).gettext
    return render_account(svc, request, "account_history.html", person,
                          events=events(svc, person, gettext, locale))


@router.get(HISTORY)
def history(request: Request) -> Response:
    svc = services(request)
    who = signed_in(svc, request, HISTORY)
    if isinstance(who, Response):
        return who
    return _page(svc, request, who[1])
