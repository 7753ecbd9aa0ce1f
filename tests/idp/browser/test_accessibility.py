"""Accessibility in a real headless Chromium: axe-core (bundled by `axe-playwright-python`) on every
page a citizen meets, in Persian and in English, with no serious or critical violation; and the
sign-in, SMS step-up and entity chooser done with the keyboard alone."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from idp.account.activate import issue_activation
from idp.storage.store import MemoryStore
from idp.web.app import create_app
from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from levels.iranian_input import make_national_code, make_national_id
from levels.people import new_person
from tests.idp.browser import test_levels as browser_levels
from tests.idp.browser import test_login as browser_login
from tests.idp.browser.harness import RelyingPartySite, live_settings, relying_party_site, serve
from tests.idp.browser.test_login import LiveIdp
from tests.idp.conftest import PASSWORD, Idp, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

chromium = browser_login.chromium
live_idp = browser_levels.live_idp  # with an SMS outbox for the step-up code

SEVERE = frozenset({"serious", "critical"})
ACME = make_national_id("1038028479")
EMPLOYEE = make_national_code("004433221")


@pytest.fixture
def agency() -> Iterator[RelyingPartySite]:
    with relying_party_site("Agency") as site:
        yield site


def _severe_violations(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{urlparse(page.url).path} [{v['impact']}] {v['id']}: {v['help']} -> "
        + "; ".join(" ".join(node["target"]) if isinstance(node["target"], list) else str(node["target"])
                    for node in v["nodes"][:3])
        for v in results.response["violations"] if v.get("impact") in SEVERE
    ]


def _axe_walk(
    chromium: Browser, base: str, idp: Idp, lang: str,
) -> tuple[BrowserContext, Page, list[str], Callable[[str], None]]:
    """A browser in `lang` on the provider, the violations found so far, and `check(path)`: the page
    is at `path`, in `lang` and its direction, and axe-core's serious and critical findings on it
    are added to the list."""
    context = chromium.new_context(bypass_csp=True)  # axe-core is injected as a script
    context.add_cookies([{"name": idp.services.cookies.lang.name, "value": lang, "url": base}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    found: list[str] = []

    def check(expected_path: str) -> None:
        page.wait_for_load_state()
        assert urlparse(page.url).path == expected_path, page.url
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "fa" else "ltr")
        found.extend(_severe_violations(page))

    return context, page, found, check


def _assert_error_tied_to(page: Page, field: str) -> None:
    """The field is marked invalid and described by an error a screen reader announces (role=alert, or
    inside the page's alert summary)."""
    target = page.locator(field)
    assert target.get_attribute("aria-invalid") == "true"
    described = (target.get_attribute("aria-describedby") or "").split()
    texts = [page.locator(f"#{ident}").inner_text().strip() for ident in described if "error" in ident]
    assert texts and all(texts), described
    assert page.get_by_role("alert").first.is_visible()


def _authorize_url(base: str, client_id: str, redirect_uri: str, scope: str, lang: str, **extra: str) -> str:
    return f"{base}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "ui_locales": lang,
        "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)), "code_challenge_method": "S256",
        **extra})


def _setup_companies(live: LiveIdp, agency: RelyingPartySite) -> None:
    """A company the person leads and may give mandates for, an agency that asks which of them the
    person acts for (the chooser) and one that asks for consent, each with a catalogue service."""
    from clients.services import Service, ServiceCatalogue

    idp = live.idp
    idp.services.acting.entities.import_registry([RegistryEntity(
        ACME, "Acme Trading Co", "private_joint_stock", EntityStatus.ACTIVE, None,
        (RegistryOfficer(idp.national_code, "ceo", frozenset({"*", "delegate"}), None, None),), line=1)],
        actor="test")
    idp.add_client("agency", name="Companies agency", redirect_uris=[agency.callback],
                   scopes=["openid", "legal_entity"])
    # Named in both languages, with its logo, policy and terms: what the consent page shows of it.
    idp.add_client("shop", name="Online pharmacy", redirect_uris=[agency.callback], scopes=["openid", "profile"],
                   require_consent=True, name_fa="داروخانهٔ برخط", name_en="Online pharmacy", logo_uri=agency.logo,
                   policy_uri=f"http://127.0.0.1:{agency.port}/privacy", tos_uri=f"http://127.0.0.1:{agency.port}/terms")
    ServiceCatalogue(idp.services.clients, idp.services.services).add(
        Service("agency", "tax.file", 1, name_fa="تسلیم اظهارنامه", name_en="File a tax return"))
    person = new_person(EMPLOYEE, "Reza", "Karimi", now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.acting.entities.delegate(
        ACME, by=idp.national_code, to=EMPLOYEE, role="employee", powers=frozenset({"tax.file"}),
        valid_until=None)


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_every_page_has_no_serious_or_critical_axe_violation(
    chromium: Browser, live_idp: LiveIdp, agency: RelyingPartySite, lang: str
) -> None:
    base, idp = live_idp.base_url, live_idp.idp
    _setup_companies(live_idp, agency)
    context, page, found, check = _axe_walk(chromium, base, idp, lang)

    # Signed out: the error page, registration, recovery, sign-in.
    page.goto(f"{base}/authorize?client_id=nobody&response_type=code")
    found.extend(_severe_violations(page))
    # The check is live: an image with no text alternative on the same page is caught.
    page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('img'), {src: '/x'}))")
    assert any("image-alt" in v for v in _severe_violations(page))
    for path in ("/register", "/recover"):
        page.goto(f"{base}{path}")
        check(path)
    # Activation: the code form, its error state (the summary links to the field), the password page
    # and its error state.
    page.goto(f"{base}/activate")
    check("/activate")
    page.locator("#national_code").fill(EMPLOYEE)
    page.locator("#code").fill("12345678")
    page.locator("form[action='/activate'] button[type=submit]").click()
    check("/activate")
    _assert_error_tied_to(page, "#code")
    page.locator(".error-summary a[href='#code']").click()
    assert page.evaluate("document.activeElement.id") == "code"
    employee = idp.services.people.get_by_national_code(EMPLOYEE)
    assert employee is not None
    issued, _ = issue_activation(idp.services, employee, actor="office")
    page.locator("#code").fill(issued.code)
    page.locator("form[action='/activate'] button[type=submit]").click()
    check("/activate/password")
    page.locator("#password").fill("password123")
    page.locator("form[action='/activate/password'] button[type=submit]").click()
    check("/activate/password")
    _assert_error_tied_to(page, "#password")
    page.goto(_authorize_url(base, "agency", agency.callback, "openid legal_entity", lang))
    check("/login")
    page.locator("#national_code").fill(idp.national_code)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    check("/login/act-as")  # the chooser
    # Consent.
    page.goto(_authorize_url(base, "shop", agency.callback, "openid profile", lang))
    check("/login/consent")
    # Step-up by SMS code (level 2), then the level-3 page (in-person proofing needed).
    idp.set_tier(2)
    page.goto(_authorize_url(base, "portal", live_idp.portal.callback, "openid", lang,
                             acr_values="urn:idp:loa:2"))
    check("/login/step")
    page.locator("#code").fill("000000")  # a wrong code: the error is announced and tied to the field
    page.locator("form button[type=submit]").first.click()
    check("/login/step")
    _assert_error_tied_to(page, "#code")
    page.goto(_authorize_url(base, "portal", live_idp.portal.callback, "openid", lang,
                             acr_values="urn:idp:loa:3"))
    found.extend(_severe_violations(page))
    # Every account page, the mandate form with an error, and the confirmation step.
    for path in ("/account", "/account/security", "/account/sessions", "/account/services", "/account/history",
                 "/account/companies"):
        page.goto(f"{base}{path}")
        check(path)
    page.locator("#national_code").fill("12345")
    page.locator("form[action='/account/companies/grant'] button[type=submit]").click()
    check("/account/companies/grant")
    _assert_error_tied_to(page, "#national_code")
    # The summary on top links to the field.
    page.locator(".error-summary a[href='#national_code']").click()
    assert page.evaluate("document.activeElement.id") == "national_code"
    page.goto(f"{base}/account/sessions")
    page.locator("form[action='/account/sessions/end-all'] button[type=submit]").click()
    check("/account/sessions/end-all")  # "Sign out everywhere?"
    page.locator("form[action='/account/sessions/end-all'] button[type=submit]").click()
    found.extend(_severe_violations(page))  # signed out
    context.close()
    assert found == []


def test_sign_in_step_up_and_chooser_with_the_keyboard_alone(
    chromium: Browser, live_idp: LiveIdp, agency: RelyingPartySite
) -> None:
    from playwright.sync_api import expect

    base, idp = live_idp.base_url, live_idp.idp
    _setup_companies(live_idp, agency)
    idp.set_tier(2)
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    keyboard = page.keyboard

    def tab_to(selector: str, limit: int = 30) -> None:
        """Press Tab until the element matching `selector` has the focus."""
        target = page.locator(selector).first
        for _ in range(limit):
            keyboard.press("Tab")
            if target.evaluate("el => el === document.activeElement"):
                return
        pytest.fail(f"{selector} is not reachable with Tab")

    page.goto(_authorize_url(base, "agency", agency.callback, "openid legal_entity", "en",
                             acr_values="urn:idp:loa:2"))
    tab_to("#national_code")
    keyboard.type(idp.national_code)
    tab_to("#password", 3)
    keyboard.type(PASSWORD)
    keyboard.press("Enter")
    page.wait_for_url(f"{base}/login/step**")
    tab_to("#code")
    keyboard.type(idp.last_sms_code())
    keyboard.press("Enter")
    page.wait_for_url(f"{base}/login/act-as**")
    company = page.get_by_role("button", name="Acme Trading Co")
    expect(company).to_be_visible()
    tab_to("button:has-text('Acme Trading Co')")
    keyboard.press("Space")
    page.wait_for_url(f"{agency.callback}?**")
    assert "code=" in page.url and "error" not in page.url
    context.close()


@pytest.fixture
def live_office(tmp_path: Path) -> Iterator[tuple[str, Idp]]:
    """The app on a loopback port with an office whose operator is the test person; the console
    asks for level 1, so a password opens it (its own step-up is tested in test_office)."""
    sock, settings = live_settings(tmp_path, office_level=1)
    idp = _build(settings, MemoryStore())
    idp.services.offices.add("THR-1", name_fa="دفتر پیشخوان مرکزی", name_en="Central counter office",
                             province="Tehran")
    idp.services.offices.add_operator("THR-1", idp.person_id)
    idp.services.people.add(new_person(EMPLOYEE, "Reza", "Karimi", now=datetime.now(UTC)))
    try:
        with serve(create_app(settings, services=idp.services), sock):
            yield settings.issuer, idp
    finally:
        idp.services.engine.dispose()


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_the_office_pages_have_no_serious_or_critical_axe_violation(
    chromium: Browser, live_office: tuple[str, Idp], lang: str,
) -> None:
    base, idp = live_office
    context, page, found, check = _axe_walk(chromium, base, idp, lang)

    page.goto(f"{base}/offices")  # the public list, by province
    check("/offices")
    page.goto(f"{base}/office")
    page.locator("#national_code").fill(idp.national_code)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(f"{base}/office")
    check("/office")
    page.locator("#national_code").fill("12345")  # a code that cannot be: the error tied to the field
    page.locator("form[action='/office/find'] button[type=submit]").click()
    check("/office/find")
    page.locator("#national_code").fill(EMPLOYEE)  # found: the facts and the verification form
    page.locator("form[action='/office/find'] button[type=submit]").click()
    check("/office/find")
    page.locator("#national_code").fill(make_national_code("009988776"))  # nobody: the registration form
    page.locator("form[action='/office/find'] button[type=submit]").click()
    check("/office/find")
    page.goto(f"{base}/office/history")
    check("/office/history")
    context.close()
    assert found == []
