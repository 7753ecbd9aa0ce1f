"""Account activation in a real headless Chromium (Debian's, never downloaded): an operator makes an
account at the counter, the person reads the activation code in the text message, types it with
Persian digits on /activate, chooses a password, and signs in with it afterwards."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from idp.storage.store import MemoryStore
from idp.web.app import create_app
from levels.iranian_input import make_national_code, to_persian_digits
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
    asks for level 1 here: reaching the office level is the console's own test (test_office)."""
    sock, settings = live_settings(tmp_path, office_level=1)
    idp = _build(settings, MemoryStore())
    idp.services.offices.add("THR-1", name_fa="دفتر پیشخوان مرکزی", name_en="Central counter office",
                             province="Tehran")
    idp.services.offices.add_operator("THR-1", idp.person_id)
    try:
        with serve(create_app(settings, services=idp.services), sock):
            yield settings.issuer, idp
    finally:
        idp.services.engine.dispose()

NEWCOMER = make_national_code("556677889")
NEWCOMER_MOBILE = "+989127654321"
NEW_PASSWORD = "quiet harbour lamp"


def _sms_to(idp: Idp, mobile: str) -> list[str]:
    path = idp.services.settings.sms_outbox
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [m["text"] for m in map(json.loads, lines) if m["to"] == mobile]


def _register_at_the_counter(page: Page, base: str, idp: Idp) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}/office?lang=en")
    page.get_by_label("National code").fill(idp.national_code)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/office")
    page.get_by_label("National code").fill(NEWCOMER)
    page.get_by_role("button", name="Find").click()
    page.get_by_label("Given name").fill("Maryam")
    page.get_by_label("Family name").fill("Rahimi")
    page.get_by_label("Birth date").fill("1360/05/01")
    page.get_by_label("Mobile number").fill("09127654321")
    page.get_by_label("Document type").select_option("birth_certificate")
    page.get_by_label("Document serial number").fill("123456")
    page.get_by_label("The photo on the document matches the person in front of me").check()
    page.get_by_label("The document is genuine and not expired").check()
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("status")).to_contain_text("activation code")


def test_a_person_activates_their_account_with_the_texted_code(
    chromium: Browser, live_office: tuple[str, Idp]
) -> None:
    from playwright.sync_api import expect

    base, idp = live_office
    counter = chromium.new_context(viewport={"width": 1280, "height": 900})
    counter.add_cookies([{"name": idp.services.cookies.lang.name, "value": "en", "url": base}])  # type: ignore[list-item]
    page = counter.new_page()
    page.set_default_timeout(10_000)
    _register_at_the_counter(page, base, idp)
    counter.close()

    # The person's phone: one message, in Persian (the default), naming /activate and the code.
    texts = _sms_to(idp, NEWCOMER_MOBILE)
    assert len(texts) == 1 and f"{base}/activate" in texts[0]
    found = re.search(r"\b(\d{8})\b", texts[0])
    assert found, texts[0]
    code = found.group(1)

    # The person, at home, on a phone, in Persian: the sign-in page's help leads to activation.
    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    page = phone.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/account")
    page.get_by_role("link", name="حساب خود را با آن فعال کنید").click()
    page.wait_for_url(f"{base}/activate?**")
    expect(page.get_by_role("heading", name="فعال کردن حساب")).to_be_visible()
    # First a wrong code: the error is next to the field and summarised on top.
    page.get_by_label("کد ملی").fill(to_persian_digits(NEWCOMER))
    page.get_by_label("کد فعال‌سازی").fill("00000000" if code != "00000000" else "11111111")
    page.get_by_role("button", name="ادامه").click()
    expect(page.get_by_role("alert")).to_contain_text("کد ملی یا کد فعال‌سازی درست نیست")
    assert page.get_by_label("کد فعال‌سازی").get_attribute("aria-invalid") == "true"
    # The national code is kept; the code typed as a Persian keyboard writes it.
    page.get_by_label("کد فعال‌سازی").fill(to_persian_digits(code))
    page.get_by_role("button", name="ادامه").click()
    page.wait_for_url(f"{base}/activate/password?**")
    page.get_by_label("گذرواژهٔ جدید").fill(NEW_PASSWORD)
    page.get_by_role("button", name="گذاشتن گذرواژه و ورود").click()
    page.wait_for_url(f"{base}/account?done=activated")
    expect(page.get_by_role("status")).to_contain_text("حساب شما آماده است")
    page.get_by_role("button", name="خروج").click()
    phone.close()

    # Later: signing in with the new password.
    later = chromium.new_context(viewport={"width": 390, "height": 844})
    later.add_cookies([{"name": idp.services.cookies.lang.name, "value": "en", "url": base}])  # type: ignore[list-item]
    page = later.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/account")
    page.get_by_label("National code").fill(NEWCOMER)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/account")
    expect(page.locator("header .who-name")).to_contain_text("Maryam Rahimi")
    later.close()
