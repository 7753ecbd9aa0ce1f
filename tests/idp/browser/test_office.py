"""The counter-office console in a real headless Chromium (Debian's, never downloaded): an operator
signs in, finds a person by national code typed in Persian digits, records an in-person verification,
and the person is at proofing tier 3 with the audit entry written; a non-operator is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code, to_persian_digits
from levels.people import new_person
from tests.idp.browser import test_login as browser_login
from tests.idp.browser.harness import live_settings, serve
from tests.idp.conftest import PASSWORD, Idp, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

chromium = browser_login.chromium  # Debian Chromium, never downloaded


@pytest.fixture
def live_office(tmp_path: Path) -> Iterator[tuple[str, Idp]]:
    """The app on a loopback port, with an office whose operator is the test person. The console
    asks for level 1 here: reaching level 3 is the sign-in's business, tested on its own."""
    sock, settings = live_settings(tmp_path, office_level=1)
    base_url = settings.issuer
    idp = _build(settings, MemoryStore())
    idp.services.offices.add("THR-1", name_fa="دفتر پیشخوان مرکزی", name_en="Central counter office",
                             province="Tehran")
    idp.services.offices.add_operator("THR-1", idp.person_id)
    try:
        with serve(create_app(settings, services=idp.services), sock):
            yield base_url, idp
    finally:
        idp.services.engine.dispose()


def _sign_in(page: Page, national_code: str) -> None:
    page.get_by_label("National code").fill(national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_verifies_a_person_at_the_console(chromium: Browser, live_office: tuple[str, Idp]) -> None:
    from playwright.sync_api import expect

    base, idp = live_office
    visitor = make_national_code("004433221")
    person = new_person(visitor, "Reza", "Karimi", mobile="+989127654321", mobile_verified=True,
                        now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))

    context = chromium.new_context(viewport={"width": 390, "height": 844})
    lang = {"name": idp.services.cookies.lang.name, "value": "en", "url": base}
    context.add_cookies([lang])  # type: ignore[list-item]
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/office?lang=en")
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/office")
    expect(page.get_by_role("heading", name="Counter-office console")).to_be_visible()

    page.get_by_label("National code").fill(to_persian_digits(visitor))
    page.get_by_role("button", name="Find").click()
    expect(page.locator("dl.facts")).to_contain_text("Reza Karimi")
    expect(page.locator("dl.facts")).to_contain_text("+98912***4321")
    page.get_by_label("Document type").select_option("passport")
    page.get_by_label("Document serial number").fill("P12345678")
    page.get_by_label("The photo on the document matches the person in front of me").check()
    page.get_by_label("The document is genuine and not expired").check()
    page.get_by_role("button", name="Record the verification").click()
    expect(page.get_by_role("status")).to_contain_text("Reza Karimi is now verified in person (level 3).")
    expect(page.locator("#found-tier")).to_have_text("3")
    after = idp.services.people.get(person.id)
    assert after is not None and after.proofing_tier == 3
    assert any(row.kind == "office.verified_in_person" and row.detail["office"] == "THR-1"
               for row in idp.services.audit.for_person(person.id))
    context.close()

    # The visitor is no operator: the console refuses them.
    other = chromium.new_context()
    other.add_cookies([lang])  # type: ignore[list-item]
    page = other.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/office?lang=en")
    _sign_in(page, visitor)
    page.wait_for_url(f"{base}/office")
    expect(page.get_by_role("heading", name="You cannot use the office console")).to_be_visible()
    other.close()
