"""What the account pages, registration, recovery and the start of a session share: the account
page addresses, the messages and the small helpers of the pages that work with or without a
pending authorization. It imports no page module, so the page modules never import each other.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from idp.errors import OAuth2Error
from idp.services import Services
from idp.sessions.transactions import LoginTransaction
from idp.web.deps import Posted

ACCOUNT_HOME = "/account"  # the profile page; where a sign-in from no service ends up
SECURITY = "/account/security"
SESSIONS = "/account/sessions"
SERVICES = "/account/services"
HISTORY = "/account/history"
COMPANIES = "/account/companies"
ACCOUNT_PAGES = frozenset({ACCOUNT_HOME, SECURITY, SESSIONS, SERVICES, HISTORY, COMPANIES})

FORM_EXPIRED = "Your form expired. Please try again."
WRONG_CODE = "That code is not correct or has expired."
NO_SUCH_DATE = "This date does not exist. Check the year, month and day."
# `/account?done=activated`, where an activation (idp.account.activate) ends: the profile page says so.
ACTIVATED = "activated"
ACTIVATED_NOTICE = ("Your account is ready and you are signed in. From now on, sign in with your national code"
                    " and password.")


def account_page_for(tx: LoginTransaction | None) -> str | None:
    """The account page a sign-in was started from, if it was (only our own pages, never a URL)."""
    page = tx.get("return_to") if tx is not None else None
    return page if page in ACCOUNT_PAGES else None


def client_names(svc: Services, locale: str) -> Callable[[str], str]:
    """The name a page in `locale` gives each client, by client_id (the id itself once the client
    is gone), each client read once per page."""
    names: dict[str, str] = {}

    def name_of(client_id: str) -> str:
        if client_id not in names:
            client = svc.clients.get(client_id)
            names[client_id] = client.display_name(locale) if client is not None else client_id
        return names[client_id]

    return name_of


def load_tx(svc: Services, tx_id: str | None) -> LoginTransaction | None:
    """The pending authorization to return to, if any (these pages also work without one)."""
    return svc.transactions.load(tx_id) if tx_id else None


def page_locale(svc: Services, request: Request, tx: LoginTransaction | None) -> str:
    return svc.pages.locale(request, tx.get("ui_locales") if tx else None)


def translated(svc: Services, locale: str, message: str, fallback: str) -> str:
    """A domain exception's message in the page language; `fallback` when it has no translation
    (messages that carry the typed value, such as a day that does not exist)."""
    tr = svc.pages.gettext(locale)
    text = tr.gettext(message)
    return text if text != message or locale == "en" else tr.gettext(fallback)


def expired(svc: Services, request: Request, title: str) -> Response:
    return svc.pages.error(request, title, "Start again from the beginning.")


def read_checked_form(svc: Services, request: Request, posted: Posted) -> dict[str, str] | Response:
    try:
        return dict(posted.pairs())
    except OAuth2Error as err:
        return svc.pages.error(request, "This request is not valid", err.description or "")
