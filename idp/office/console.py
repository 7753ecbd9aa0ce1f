"""The counter-office console: an operator of an active office, signed in at `IDP_OFFICE_LEVEL`,
finds a person by national code, records an in-person verification (proofing tier P3), registers
people who have no account (who then set a password with a texted activation code, idp.account.activate)
and sends a new activation code to someone who has not set a password yet. Every action is counted
against the operator's daily limit and audited.

The console shows only what the check at the counter needs (name, birth date, tier, masked mobile):
an operator has no business with the rest of a person's account.

The console signs its operators in as a relying party of this provider (the built-in client
`idp.built_in_clients.OFFICE_CONSOLE`): nobody signed in, it asks `/authorize` for a sign-in; an
operator below the office level, it asks for that level (`acr_values`), and the usual sign-in pages
ask for what is missing (a passkey, a TOTP code, proofing). The first request asks for no level of
its own: until the person has signed in nobody knows whether they are an operator, and a level-3
request would send someone who is not one to a counter office for nothing instead of telling them
the console is not theirs. The request is pushed in-process (RFC 9126), so it also works where every
request must be pushed, with PKCE (S256) and a `state` kept, with the verifier, in a short-lived
cookie of this browser. `/office/callback` checks the state, takes the code out of the code store
(nothing usable is left behind; no token is issued, since the SSO session is what the console
reads) and goes back to the console page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.background import BackgroundTask
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from idp.account.activate import activation_days, issue_activation
from idp.account.common import read_checked_form
from idp.account.notices import send_notice
from idp.account.security import format_moment, full_name
from idp.built_in_clients import OFFICE_CALLBACK, OFFICE_CONSOLE
from idp.services import Services
from idp.sessions.sso import SsoSession
from idp.web.cookies import Cookie
from idp.web.deps import PostedForm, client_ip, services
from idp.web.i18n import format_day, localize_digits
from levels.iranian_input import (
    InvalidMobile,
    InvalidNationalCode,
    normalize_mobile,
    parse_national_code,
)
from levels.level import Level
from levels.offices import DailyLimitReached, Office, Operator, province_name
from levels.people import Person, PersonExists, new_person
from levels.registration import InvalidBirthdate, parse_birthdate
from levels.sms import mask_mobile

router = APIRouter()

OFFICE = "/office"  # signed in through the provider, as its built-in client (not like an account page)
HISTORY = "/office/history"
DOCUMENT_TYPES = {"idcard": "National ID card", "birth_certificate": "Birth certificate", "passport": "Passport"}
MAX_SERIAL = 32

NOT_OPERATOR = "Only operators of a government counter office can use this console."
OFFICE_CLOSED = "Your office is not active, so its console is closed. Ask your administrator."
SIGN_IN_FAILED = "The console did not open"
SIGN_IN_EXPIRED = "This sign-in to the console has expired or was started in another window."
SIGN_IN_STOPPED = ("The sign-in was not completed, so the console stayed closed. The console needs a sign-in at"
                   " level {level}.")
SIGN_IN_ERROR = "The sign-in to the console could not be completed."
OPEN_AGAIN = "Open the console again"
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
    """The signed-in operator at their active office, at the console's level; else a refusal (403),
    or the sign-in that raises the session to the level (`_sign_in`)."""
    svc = services(request)
    back_to = request.url.path if request.method == "GET" and request.url.path in RETURN_PAGES else OFFICE
    cookie = svc.cookies.session.read(request)
    session = svc.sessions.load(cookie)
    person = svc.people.get(session.person_id) if session else None
    if cookie is None or session is None or person is None or person.status != "active":
        return _sign_in(svc, request, None, back_to)
    session = svc.sessions.seen(cookie, session, client_ip(request, svc.settings.trusted_proxies))
    operator = svc.offices.operator_of(person.id)
    if operator is None:
        return _refused(svc, request, NOT_OPERATOR)
    desk = svc.offices.desk(person.id)
    if desk is None:
        return _refused(svc, request, OFFICE_CLOSED)
    level = svc.policy.proven_level(person.proofing_tier, session.proven_factors(), datetime.now(UTC))
    if level is None or int(level) < svc.settings.office_level:
        return _sign_in(svc, request, svc.settings.office_level, back_to)
    return Desk(svc, session, person, desk[0], desk[1], svc.pages.locale(request))


# -- signing in through the provider, as its built-in client ------------------------------------

RETURN_PAGES = {OFFICE: "c", HISTORY: "h"}  # where the callback goes back to, by a letter in the cookie
_PENDING = re.compile(r"([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{64})\.([0-3])\.([ch])")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the browser keeps while it signs in for the console: the `state` sent, the PKCE code
    verifier, the level asked for (0: none of its own) and the console page to go back to."""

    state: str
    verifier: str
    level: int
    back_to: str

    def value(self) -> str:
        return f"{self.state}.{self.verifier}.{self.level}.{RETURN_PAGES[self.back_to]}"

    @classmethod
    def read(cls, value: str | None) -> PendingSignIn | None:
        found = _PENDING.fullmatch(value or "")
        if found is None:
            return None
        page = next(path for path, letter in RETURN_PAGES.items() if letter == found.group(4))
        return cls(found.group(1), found.group(2), int(found.group(3)), page)


def _pending_cookie(svc: Services) -> Cookie:
    # As long as a sign-in may take; Lax, as the callback is a top-level navigation.
    return svc.cookies.cookie("idp_office_signin", max_age=svc.settings.login_transaction_ttl)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _sign_in(svc: Services, request: Request, level: int | None, back_to: str) -> Response:
    """Send the browser to `/authorize` as the console: a sign-in, at `level` when given."""
    pending = PendingSignIn(secrets.token_urlsafe(32), secrets.token_urlsafe(48), level or 0, back_to)
    params = [
        ("response_type", "code"), ("client_id", OFFICE_CONSOLE),
        ("redirect_uri", svc.settings.endpoint(OFFICE_CALLBACK)), ("scope", "openid"), ("state", pending.state),
        ("code_challenge", _challenge(pending.verifier)),
        ("code_challenge_method", "S256"), ("ui_locales", svc.pages.locale(request)),
    ]
    if level is not None:
        params.append(("acr_values", svc.policy.acr(Level(level))))
    request_uri = svc.pushed.push(OFFICE_CONSOLE, params)
    response = RedirectResponse("/authorize?" + urlencode({"client_id": OFFICE_CONSOLE, "request_uri": request_uri}),
                                status_code=303, headers={"Cache-Control": "no-store"})
    _pending_cookie(svc).set(response, pending.value())
    # A link asking for a language (`/office?lang=en`) keeps it through the sign-in and after.
    svc.pages.remember_locale(request, response)
    return response


def _sign_in_failed(svc: Services, request: Request, message: str, *, status_code: int = 400,
                    detail: str | None = None, **values: object) -> Response:
    locale = svc.pages.locale(request)
    tr = svc.pages.gettext(locale)
    text = tr.gettext(message).format(**values)
    for value in values.values():
        text = text.replace(f" {value}", f"\u00a0{value}")  # "level 3" never broken over two lines
    response = svc.pages.render(request, "error.html", locale, status_code=status_code,
                                title=tr.gettext(SIGN_IN_FAILED), message=text,
                                detail=detail, again=(OFFICE, tr.gettext(OPEN_AGAIN)))
    _pending_cookie(svc).delete(response)
    return response


@router.get(OFFICE_CALLBACK)
def callback(request: Request) -> Response:
    """The console's redirect URI: the state must be the one this browser sent; an error is shown in
    words (never sent on); a code is taken once and checked (client, redirect URI, PKCE, person,
    level) before the browser goes back to the console page."""
    svc = services(request)
    pending = PendingSignIn.read(_pending_cookie(svc).read(request))
    query = request.query_params
    # Any code that arrives is spent at once, whatever follows: none is left for anyone to redeem.
    record = svc.codes.take(query["code"][:512]) if query.get("code") else None
    if pending is None or not hmac.compare_digest(query.get("state", "").encode(), pending.state.encode()):
        return _sign_in_failed(svc, request, SIGN_IN_EXPIRED)
    if query.get("iss", svc.settings.issuer) != svc.settings.issuer:  # RFC 9207
        return _sign_in_failed(svc, request, SIGN_IN_ERROR)
    error = query.get("error")
    if error is not None:
        code = error if _ERROR_CODE.fullmatch(error) else None
        if code in ("access_denied", "unmet_authentication_requirements"):
            return _sign_in_failed(svc, request, SIGN_IN_STOPPED, status_code=403, detail=code,
                                   level=svc.settings.office_level)
        return _sign_in_failed(svc, request, SIGN_IN_ERROR, detail=code)
    session = svc.sessions.load(svc.cookies.session.read(request))
    reached = svc.policy.level_for_acr(record.acr) if record is not None else None
    if record is None or record.client_id != OFFICE_CONSOLE \
            or record.redirect_uri != svc.settings.endpoint(OFFICE_CALLBACK) \
            or record.code_challenge_method != "S256" \
            or not hmac.compare_digest(record.code_challenge.encode(), _challenge(pending.verifier).encode()) \
            or session is None or session.person_id != record.person_id \
            or reached is None or int(reached) < pending.level:
        return _sign_in_failed(svc, request, SIGN_IN_EXPIRED)
    response = RedirectResponse(pending.back_to, status_code=303, headers={"Cache-Control": "no-store"})
    _pending_cookie(svc).delete(response)
    return response


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


def _posted_person(
    request: Request, posted: PostedForm,
) -> tuple[Desk, ImmutableMultiDict[str, str], Person] | Response:
    """A console form about a person found before (their national code in a hidden field): the
    desk, the form and the person, or the page that says why not."""
    checked = _posted(request, posted)
    if isinstance(checked, Response):
        return checked
    desk, form = checked
    try:
        person = desk.svc.people.get_by_national_code(parse_national_code(form.get("national_code", "")[:64]))
    except InvalidNationalCode:
        person = None
    if person is None:
        return _render(desk, request, status_code=400, error=BAD_CODE)
    return desk, form, person


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
    posted = _posted_person(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form, person = posted
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
    posted = _posted_person(request, form_post)
    if isinstance(posted, Response):
        return posted
    desk, form, person = posted
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

