"""The counter-office console: an operator of an active office, signed in at `IDP_OFFICE_LEVEL`,
finds a person by national code, records an in-person verification (proofing tier P3), registers
people who have no account (who then set a password with a texted activation code, idp.account.activate)
and sends a new activation code to someone who has not set a password yet. Every action is counted
against the operator's daily limit and audited.

The console shows only what the check at the counter needs (name, birth date, tier, masked mobile):
an operator has no business with the rest of a person's account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response

from idp.account.activate import activation_days, issue_activation
from idp.account.common import OFFICE, read_checked_form
from idp.account.notices import send_notice
from idp.account.security import format_moment, full_name, signed_in
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.web.deps import PostedForm, services
from idp.web.i18n import format_day, localize_digits
from levels.iranian_input import (
    InvalidMobile,
    InvalidNationalCode,
    normalize_mobile,
    parse_national_code,
)
from levels.offices import DailyLimitReached, Office, Operator, province_name
from levels.people import Person, PersonExists, new_person
from levels.registration import InvalidBirthdate, parse_birthdate
from levels.sms import mask_mobile

router = APIRouter()

HISTORY = "/office/history"
DOCUMENT_TYPES = {"idcard": "National ID card", "birth_certificate": "Birth certificate", "passport": "Passport"}
MAX_SERIAL = 32

NOT_OPERATOR = "Only operators of a government counter office can use this console."
OFFICE_CLOSED = "Your office is not active, so its console is closed. Ask your administrator."
LEVEL_TOO_LOW = ("This console needs a sign-in at level {level}, which this sign-in has not reached. Sign in at a"
                 " service that asks for level {level}, then open the console again.")
BAD_CODE = "This is not a valid national code. Check the ten digits."
NOBODY = "No account has this national code. You can register the person below."
LIMIT_REACHED = "You have reached today's limit of actions at the console. You can continue tomorrow."
CHECKS_NEEDED = "Check that the photo matches the person and that the document is genuine, and tick both."
BAD_DOCUMENT = "Choose the type of document and type its serial number."
VERIFIED = "{name} is now verified in person (level 3)."
REGISTERED = ("The account was created at level 3. A text message gives the person an activation code to set a password"
              " with; it works for {days} days.")
CODE_SENT = "A new activation code was sent to {mobile}. It works for {days} days; the code sent before no longer does."
HAS_PASSWORD = ("This person has already set a password: they can reset it themselves with \"Forgot your password?\""
                " on the sign-in page.")
BAD_NAME = "Type the given name and the family name."
BAD_MOBILE = "This is not a valid Iranian mobile number."
ALREADY = "An account with this national code already exists. Find it instead."

VERIFIED_SMS = {
    "fa": "هویت شما در ورود یکپارچه ملی در دفتر «{office_fa}» به‌صورت حضوری تأیید شد (سطح ۳). اگر این کار را شما"
          " انجام نداده‌اید، با پشتیبانی تماس بگیرید.",
    "en": "Your identity for national sign-in was verified in person at office \"{office_en}\" (level 3). If this"
          " wasn't you, contact support.",
}
# The activation code (idp.account.activate) with the office's name; `{link}` is the /activate page.
ACTIVATE_SMS = {
    "fa": "حساب ورود یکپارچه ملی شما در دفتر «{office_fa}» ساخته شد. کد فعال‌سازی: {code}\nبرای گذاشتن گذرواژه به"
          " {link} بروید و کد ملی و این کد را بنویسید. این کد تا {days} روز کار می‌کند. آن را به کسی ندهید.",
    "en": "Your national sign-in account was created at office \"{office_en}\". Activation code: {code}\nTo set a"
          " password, open {link} and enter your national code and this code. It works for {days} days. Do not"
          " share it with anyone.",
}


@dataclass(frozen=True, slots=True)
class Desk:
    svc: Services
    session: SsoSession
    person: Person  # the operator
    operator: Operator
    office: Office
    locale: str


def _refused(svc: Services, request: Request, message: str, **values: object) -> Response:
    locale = svc.pages.locale(request)
    text = svc.pages.gettext(locale).gettext(message).format(**values)
    return svc.pages.render(request, "error.html", locale, status_code=403,
                            title=svc.pages.gettext(locale).gettext("You cannot use the office console"),
                            message=text, detail=None)


def _desk(request: Request) -> Desk | Response:
    """The signed-in operator at their active office, at the console's level; else a refusal (403)."""
    svc = services(request)
    who = signed_in(svc, request, OFFICE)
    if isinstance(who, Response):
        return who
    session, person = who
    operator = svc.offices.operator_of(person.id)
    if operator is None:
        return _refused(svc, request, NOT_OPERATOR)
    desk = svc.offices.desk(person.id)
    if desk is None:
        return _refused(svc, request, OFFICE_CLOSED)
    level = svc.policy.proven_level(person.proofing_tier, session.proven_factors(), datetime.now(UTC))
    if level is None or int(level) < svc.settings.office_level:
        return _refused(svc, request, LEVEL_TOO_LOW, level=svc.settings.office_level)
    return Desk(svc, session, person, desk[0], desk[1], svc.pages.locale(request))


def _render(desk: Desk, request: Request, *, status_code: int = 200, error: str | None = None,
            notice: str | None = None, **context: object) -> Response:
    tr = desk.svc.pages.gettext(desk.locale)
    return desk.svc.pages.render(
        request, "office.html", desk.locale, status_code=status_code, person=desk.person,
        person_name=full_name(desk.person), office=desk.office, office_name=desk.office.name(desk.locale),
        error=tr.gettext(error) if error else None, notice=notice, document_types=DOCUMENT_TYPES,
        done_today=desk.svc.offices.today(desk.person.id), daily_limit=desk.svc.offices.daily_limit,
        form=context.pop("form", {}), digits=lambda value: localize_digits(str(value), desk.locale), **context,
    )


def _posted(request: Request, posted: PostedForm) -> tuple[Desk, ImmutableMultiDict[str, str]] | Response:
    desk = _desk(request)
    if isinstance(desk, Response):
        return desk
    form = read_checked_form(desk.svc, request, posted)
    if isinstance(form, Response):
        return form
    if not desk.svc.pages.check_csrf(request, form.get("csrf_token")):
        return desk.svc.pages.error(request, "Your form expired. Please try again.", "", status_code=403)
    return desk, ImmutableMultiDict(form)


def _found_view(desk: Desk, person: Person) -> dict[str, object]:
    """What the console may show of a person: enough to check them, nothing more."""
    return {
        "national_code": person.national_code, "name": full_name(person),
        "birthdate": format_day(person.birthdate, desk.locale) if person.birthdate else None,
        "tier": person.proofing_tier, "mobile": mask_mobile(person.mobile) if person.mobile else None,
        "needs_activation": _needs_activation(desk, person),
    }


def _needs_activation(desk: Desk, person: Person) -> bool:
    """An account without a password yet (made here, or imported), with a line to text a code to."""
    return person.status == "active" and bool(person.mobile) and desk.svc.people.password_hash(person.id) is None


def _record(desk: Desk, action: str, person_id: str | None, **detail: object) -> None:
    """Count the action against today's limit (raising `DailyLimitReached`), then audit it."""
    desk.svc.offices.record(desk.operator, action, person_id)
    desk.svc.audit.record(f"office.{action}", actor="office", person_id=person_id, detail={
        "office": desk.office.code, "operator": desk.person.id, **detail})


@router.get(OFFICE)
def console(request: Request) -> Response:
    desk = _desk(request)
    if isinstance(desk, Response):
        return desk
    return _render(desk, request)


@router.post("/office/find")
def find(request: Request, form_post: PostedForm) -> Response:
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form = posted
    typed = form.get("national_code", "")[:64]
    try:
        code = parse_national_code(typed)
    except InvalidNationalCode:
        return _render(desk, request, status_code=400, error=BAD_CODE, form={"national_code": typed})
    try:
        desk.svc.offices.check_allowance(desk.operator)
        person = desk.svc.people.get_by_national_code(code)
        _record(desk, "lookup", person.id if person else None)
    except DailyLimitReached:
        return _render(desk, request, status_code=429, error=LIMIT_REACHED)
    if person is None:
        return _render(desk, request, status_code=404, error=NOBODY, form={"national_code": code}, register=True)
    return _render(desk, request, found=_found_view(desk, person))


def _document(form: ImmutableMultiDict[str, str]) -> tuple[str, str] | str:
    """(type, serial) of the document checked, or the message to show."""
    doc_type, serial = form.get("document_type", ""), " ".join(form.get("document_serial", "").split())
    if doc_type not in DOCUMENT_TYPES or not serial or len(serial) > MAX_SERIAL or ":" in serial:
        return BAD_DOCUMENT
    if form.get("photo_matches") != "yes" or form.get("document_genuine") != "yes":
        return CHECKS_NEEDED
    return doc_type, serial


def _verify(desk: Desk, person: Person, doc_type: str, serial: str) -> Person:
    """Raise the person to P3 through the proofing service, the operator and office on the record."""
    raised = desk.svc.proofing.verify_in_person(person.national_code, f"{desk.office.code}/{desk.person.id}",
                                                f"{doc_type}:{serial}")
    _record(desk, "verified_in_person", person.id, document_type=doc_type, name_fa=desk.office.name_fa,
            name_en=desk.office.name_en)
    return raised


def _notice(desk: Desk, person: Person, messages: dict[str, str]) -> BackgroundTask | None:
    if not person.mobile:
        return None
    values = {"office_fa": desk.office.name_fa, "office_en": desk.office.name_en, "issuer": desk.svc.settings.issuer}
    filled = {lang: text.format(**values) for lang, text in messages.items()}
    # Sent after the response, as every notice is (idp.account.notices).
    return BackgroundTask(send_notice, desk.svc.settings, person.mobile, filled, desk.svc.settings.default_locale)


@router.post("/office/verify")
def verify(request: Request, form_post: PostedForm) -> Response:
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form = posted
    try:
        person = desk.svc.people.get_by_national_code(parse_national_code(form.get("national_code", "")[:64]))
    except InvalidNationalCode:
        person = None
    if person is None:
        return _render(desk, request, status_code=400, error=BAD_CODE)
    document = _document(form)
    if isinstance(document, str):
        return _render(desk, request, status_code=400, error=document, found=_found_view(desk, person))
    try:
        desk.svc.offices.check_allowance(desk.operator)
        raised = _verify(desk, person, *document)
    except DailyLimitReached:
        return _render(desk, request, status_code=429, error=LIMIT_REACHED)
    text = desk.svc.pages.gettext(desk.locale).gettext(VERIFIED).format(name=full_name(raised))
    response = _render(desk, request, notice=text, found=_found_view(desk, raised))
    response.background = _notice(desk, raised, VERIFIED_SMS)
    return response


@router.post("/office/register")
def register(request: Request, form_post: PostedForm) -> Response:
    """Assisted registration: the account is created with the details on the document, raised to P3
    by the same in-person verification, and the person sets a password on /activate with the
    activation code texted to the mobile line they showed at the counter."""
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form = posted
    typed = {k: form.get(k, "")[:200] for k in ("national_code", "given_name", "family_name", "birthdate", "mobile")}
    shown = {"form": typed, "register": True}
    try:
        code = parse_national_code(typed["national_code"])
    except InvalidNationalCode:
        return _render(desk, request, status_code=400, error=BAD_CODE, **shown)
    given, family = " ".join(typed["given_name"].split()), " ".join(typed["family_name"].split())
    if not given or not family or len(given) > 100 or len(family) > 100:
        return _render(desk, request, status_code=400, error=BAD_NAME, **shown)
    try:
        born = parse_birthdate(typed["birthdate"])
    except (InvalidBirthdate, ValueError):
        return _render(desk, request, status_code=400, error="This date does not exist. Check the year, month and day.",
                       **shown)
    try:
        mobile = normalize_mobile(typed["mobile"])
    except InvalidMobile:
        return _render(desk, request, status_code=400, error=BAD_MOBILE, **shown)
    document = _document(form)
    if isinstance(document, str):
        return _render(desk, request, status_code=400, error=document, **shown)
    try:
        desk.svc.offices.check_allowance(desk.operator)
        # The operator saw the line answer at the counter, so it counts as proven (recovery needs that).
        person = new_person(code, given, family, birthdate=born, mobile=mobile, mobile_verified=True,
                            now=datetime.now(UTC))
        desk.svc.people.add(person)
        _record(desk, "registered", person.id)
        desk.svc.audit.record("person.registered", actor="office", person_id=person.id,
                              detail={"office": desk.office.code})
        raised = _verify(desk, person, *document)
    except PersonExists:
        return _render(desk, request, status_code=409, error=ALREADY, **shown)
    except DailyLimitReached:
        return _render(desk, request, status_code=429, error=LIMIT_REACHED, **shown)
    _, texts = issue_activation(desk.svc, raised, actor="office", messages=ACTIVATE_SMS,
                                detail={"office": desk.office.code, "operator": desk.person.id},
                                office_fa=desk.office.name_fa, office_en=desk.office.name_en)
    tr = desk.svc.pages.gettext(desk.locale)
    notice = tr.gettext(REGISTERED).format(days=activation_days(desk.svc))
    response = _render(desk, request, notice=notice, found=_found_view(desk, raised))
    if raised.mobile:
        # Sent after the response, as every notice is (idp.account.notices).
        response.background = BackgroundTask(send_notice, desk.svc.settings, raised.mobile, texts,
                                             desk.svc.settings.default_locale)
    return response


@router.post("/office/activation")
def send_activation_code(request: Request, form_post: PostedForm) -> Response:
    """A new activation code for a person who has not set a password yet: the one sent before expired,
    was lost, or was used up by wrong guesses. It replaces that one and goes to the mobile on the
    account, never to the operator."""
    posted = _posted(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form = posted
    try:
        person = desk.svc.people.get_by_national_code(parse_national_code(form.get("national_code", "")[:64]))
    except InvalidNationalCode:
        person = None
    if person is None:
        return _render(desk, request, status_code=400, error=BAD_CODE)
    if not _needs_activation(desk, person) or not person.mobile:
        return _render(desk, request, status_code=409, error=HAS_PASSWORD, found=_found_view(desk, person))
    try:
        desk.svc.offices.check_allowance(desk.operator)
        _record(desk, "activation_sent", person.id)
    except DailyLimitReached:
        return _render(desk, request, status_code=429, error=LIMIT_REACHED)
    _, texts = issue_activation(desk.svc, person, actor="office", messages=ACTIVATE_SMS,
                                detail={"office": desk.office.code, "operator": desk.person.id},
                                office_fa=desk.office.name_fa, office_en=desk.office.name_en)
    tr = desk.svc.pages.gettext(desk.locale)
    # The number isolated left-to-right (LRI ... PDI), so a Persian sentence does not move its "+".
    mobile = f"\u2066{mask_mobile(person.mobile)}\u2069"
    notice = tr.gettext(CODE_SENT).format(mobile=mobile, days=activation_days(desk.svc))
    response = _render(desk, request, notice=notice, found=_found_view(desk, person))
    response.background = BackgroundTask(send_notice, desk.svc.settings, person.mobile, texts,
                                         desk.svc.settings.default_locale)
    return response


ACTION_TEXT = {"lookup": "Looked up a national code", "verified_in_person": "Recorded an in-person verification",
               "registered": "Registered a person", "activation_sent": "Sent a new activation code"}


@router.get(HISTORY)
def history(request: Request) -> Response:
    desk = _desk(request)
    if isinstance(desk, Response):
        return desk
    tr = desk.svc.pages.gettext(desk.locale)
    rows = []
    for action in desk.svc.offices.history(desk.person.id, limit=100):
        subject = desk.svc.people.get(action.person_id) if action.person_id else None
        rows.append({"at": action.at, "text": tr.gettext(ACTION_TEXT.get(action.action, action.action)),
                     "who": full_name(subject) if subject else None})
    return desk.svc.pages.render(
        request, "office_history.html", desk.locale, person=desk.person, person_name=full_name(desk.person),
        office_name=desk.office.name(desk.locale), rows=rows,
        format_moment=lambda moment: localize_digits(format_moment(moment, desk.locale), desk.locale))


@router.get("/offices")
def offices(request: Request) -> Response:
    """The public list of active counter offices, by province (no sign-in needed)."""
    svc = services(request)
    locale = svc.pages.locale(request)
    by_province: dict[str, list[Office]] = {}
    for office in svc.offices.all(active_only=True):
        by_province.setdefault(office.province, []).append(office)
    return svc.pages.render(request, "offices.html", locale, by_province=by_province,
                            province_name=lambda province: province_name(province, locale))

