"""The counter-office console in a real headless Chromium (Debian's, never downloaded), one live app
and one browser for the module.

The console asks for level 3 (the default): an operator who opens it is sent through the provider's
own sign-in, as its built-in client, and asked for the passkey the level needs (a CDP virtual
authenticator); at the console they find a person by a national code typed in Persian digits and
record an in-person verification, and that person then signs in at an agency that asks for level 3
and gets it with their passkey (the ID token, redeemed with Authlib, says so). Someone who is no
operator, and an operator of a disabled office, are told so after signing in; the daily limit
refuses the action after the last one allowed.

The issuer is http://localhost:PORT: a secure context whose host is the passkey RP ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code, to_persian_digits
from levels.people import new_person
from tests.idp.browser.harness import launch_chromium, live_settings, relying_party_site, serve
from tests.idp.browser.test_levels import LOA, Portal
from tests.idp.browser.test_login import LiveIdp
from tests.idp.browser.test_passkey import CEREMONIES_JS
from tests.idp.conftest import PASSWORD, Idp, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

DAILY_LIMIT = 3
OPERATOR = make_national_code("005566778")
CLOSED_OPERATOR = make_national_code("007788990")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launch_chromium() as browser:
        yield browser


def _person(idp: Idp, code: str, given: str, family: str, *, tier: int = 1) -> str:
    person = new_person(code, given, family, mobile="+989127654321", mobile_verified=True, now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    if tier == 3:
        idp.services.proofing.verify_in_person(code, operator="SEED/admin", document="idcard:1")
    return person.id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveIdp]:
    """The app on a loopback port at the default office level (3) and a daily limit of three actions.
    The test person (Sara) is the visitor; an operator at proofing tier 3 works at THR-1, and another
    at CLS-1, which is disabled."""
    sock, settings = live_settings(tmp_path_factory.mktemp("office"), host="localhost",
                                   office_daily_limit=DAILY_LIMIT)
    assert settings.office_level == 3
    idp = _build(settings, MemoryStore())
    offices = idp.services.offices
    offices.add("THR-1", name_fa="دفتر پیشخوان مرکزی", name_en="Central counter office", province="Tehran")
    offices.add("CLS-1", name_fa="دفتر بسته", name_en="Closed counter office", province="Tehran")
    offices.add_operator("THR-1", _person(idp, OPERATOR, "Nader", "Amini", tier=3))
    offices.add_operator("CLS-1", _person(idp, CLOSED_OPERATOR, "Leila", "Moradi"))
    offices.set_active("CLS-1", False)
    try:
        with serve(create_app(settings, services=idp.services), sock), relying_party_site("Portal") as portal:
            idp.services.clients.update("portal", redirect_uris=[portal.callback])
            yield LiveIdp(settings.issuer, idp, portal)
    finally:
        idp.services.engine.dispose()


def _context(chromium: Browser, live: LiveIdp, *, lang: str = "en") -> tuple[BrowserContext, Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": live.idp.services.cookies.lang.name, "value": lang, "url": live.base_url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    return context, page


def _with_passkey(context: BrowserContext, page: Page, live: LiveIdp, person_id: str, code: str) -> None:
    """A virtual authenticator in this page, holding a passkey registered for the person."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})
    page.goto(f"{live.base_url}/offices")  # any page of the origin: WebAuthn is bound to it
    page.evaluate(CEREMONIES_JS + "\nnull")  # defines the helpers (a function as result would be called)
    passkeys = live.idp.services.passkeys
    options = passkeys.registration_options(person_id, code, code)
    passkeys.register(person_id, page.evaluate("(o) => window.createPasskey(o)", options), name="desk")


def _sign_in(page: Page, national_code: str) -> None:
    page.get_by_label("National code").fill(national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _find(page: Page, national_code: str) -> None:
    page.get_by_label("National code").fill(national_code)
    page.get_by_role("button", name="Find").click()


def test_an_operator_steps_up_and_verifies_a_person_who_then_signs_in_at_level_3(
        chromium: Browser, live: LiveIdp) -> None:
    from playwright.sync_api import expect

    idp, base = live.idp, live.base_url
    operator = idp.services.people.get_by_national_code(OPERATOR)
    assert operator is not None
    idp.set_tier(2)  # the visitor: confirmed by the registry, never seen at an office

    # The operator opens the console: a password sign-in, then the passkey the console's level needs.
    context, page = _context(chromium, live)
    _with_passkey(context, page, live, operator.id, OPERATOR)
    page.goto(f"{base}/office")
    assert urlparse(page.url).path == "/login"
    expect(page.get_by_text("to continue to Counter-office console")).to_be_visible()
    _sign_in(page, OPERATOR)
    page.wait_for_url(f"{base}/login/step?**")
    expect(page.get_by_text("Counter-office console needs a stronger sign-in.")).to_be_visible()
    expect(page.locator("input[type=password]")).to_have_count(0)
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{base}/office")
    expect(page.get_by_role("heading", name="Counter-office console")).to_be_visible()
    expect(page.locator("p.lead")).to_contain_text("Nader Amini")

    # The visitor, found by a national code typed in Persian digits, is verified in person.
    started = datetime.now(UTC)
    _find(page, to_persian_digits(idp.national_code))
    expect(page.locator("dl.facts")).to_contain_text("Sara Ahmadi")
    expect(page.locator("#found-tier")).to_have_text("2")
    page.get_by_label("Document type").select_option("idcard")
    page.get_by_label("Document serial number").fill("0012345678")
    page.get_by_label("The photo on the document matches the person in front of me").check()
    page.get_by_label("The document is genuine and not expired").check()
    page.get_by_role("button", name="Record the verification").click()
    expect(page.get_by_role("status")).to_contain_text("Sara Ahmadi is now verified in person (level 3).")
    expect(page.locator("#found-tier")).to_have_text("3")
    visitor = idp.services.people.get(idp.person_id)
    assert visitor is not None and visitor.proofing_tier == 3
    audited = [row for row in idp.services.audit.for_person(idp.person_id) if row.kind == "office.verified_in_person"]
    assert len(audited) == 1
    assert audited[0].detail["office"] == "THR-1" and audited[0].detail["operator"] == operator.id
    at = audited[0].at if audited[0].at.tzinfo else audited[0].at.replace(tzinfo=UTC)
    assert started - timedelta(seconds=1) <= at <= datetime.now(UTC)

    # Two actions so far (a lookup, a verification): one more is allowed, the next is refused.
    _find(page, idp.national_code)
    expect(page.locator("dl.facts")).to_contain_text("Sara Ahmadi")
    expect(page.get_by_text(f"Actions today: {DAILY_LIMIT} / {DAILY_LIMIT}")).to_be_visible()
    _find(page, idp.national_code)
    expect(page.get_by_role("alert")).to_have_text(
        "You have reached today's limit of actions at the console. You can continue tomorrow.")
    assert len(idp.services.offices.history(operator.id, limit=10)) == DAILY_LIMIT
    context.close()

    # The visitor signs in at an agency that asks for level 3: the passkey completes it.
    context, page = _context(chromium, live)
    _with_passkey(context, page, live, idp.person_id, idp.national_code)
    portal = Portal(live, context, page)
    portal.authorize(LOA[3])
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/login/step?**")
    page.get_by_role("button", name="Use a passkey").click()
    claims = portal.id_token()
    assert claims["acr"] == LOA[3]
    assert {"hwk", "pwd", "mfa"} <= set(claims["amr"])
    context.close()


def test_someone_who_is_no_operator_is_refused_after_signing_in(chromium: Browser, live: LiveIdp) -> None:
    from playwright.sync_api import expect

    context, page = _context(chromium, live)
    page.goto(f"{live.base_url}/office")
    _sign_in(page, live.idp.national_code)
    page.wait_for_url(f"{live.base_url}/office")
    expect(page.get_by_role("heading", name="You cannot use the office console")).to_be_visible()
    expect(page.get_by_text("Only operators of a government counter office can use this console.")).to_be_visible()
    context.close()


def test_an_operator_of_a_disabled_office_finds_the_console_closed(chromium: Browser, live: LiveIdp) -> None:
    from playwright.sync_api import expect

    context, page = _context(chromium, live, lang="fa")
    page.goto(f"{live.base_url}/office")
    page.get_by_label("کد ملی").fill(CLOSED_OPERATOR)
    page.get_by_label("گذرواژه").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{live.base_url}/office")
    expect(page.get_by_role("heading", name="شما نمی‌توانید از میز کار دفتر استفاده کنید")).to_be_visible()
    expect(page.get_by_text("دفتر شما فعال نیست، پس میز کار آن بسته است. از مدیر خود بپرسید.")).to_be_visible()
    context.close()
