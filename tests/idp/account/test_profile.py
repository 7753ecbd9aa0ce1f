"""The account's profile page (`idp.account.profile`): what is recorded about the person, their
proofing tier, and the civil registry check that raises it."""

from __future__ import annotations

from datetime import date

from idp.account import profile as account_profile
from idp.web.i18n import load_translations
from tests.idp.account.helpers import (
    other_person,
    page_text,
    post_form,
    sign_in_at,
)
from tests.idp.conftest import Idp


def test_profile_shows_the_proofing_tier_and_the_registry_check_raises_it(idp: Idp) -> None:
    sign_in_at(idp.browser, idp.national_code)
    page = page_text(idp.browser.get("/account?lang=en").text)
    assert "Sara Ahmadi" in page and idp.national_code in page and "1990-03-21" in page
    assert "+98912***4567" in page and "+989121234567" not in page and "Confirmed by a code" in page
    assert "Self-declared (level 1)" in page and "Verify with the civil registry" in page

    done = post_form(idp.browser, "/account/proofing")
    assert done.status_code == 303 and done.headers["location"] == "/account?done=verified"
    page = page_text(idp.browser.get(done.headers["location"]).text)
    assert "The civil registry confirmed your details" in page
    assert "Confirmed with the civil registry (level 2)" in page and "Verify with the civil registry" not in page
    assert "visit a government counter office with your national ID card" in page
    # The registry's spelling of the name replaces the one typed at registration.
    assert "سارا احمدی" in page
    assert idp.services.people.get(idp.person_id).proofing_tier == 2  # type: ignore[union-attr]

    # In Persian the birth date is on the Jalali calendar, in Persian digits.
    persian = page_text(idp.browser.get("/account?lang=fa").text)
    assert "۱۳۶۹/۰۱/۰۱" in persian and "تأییدشده با ثبت احوال (سطح ۲)" in persian


def test_the_registry_refusal_is_explained_and_the_tier_stays(idp: Idp) -> None:
    # Not in the simulated civil registry.
    code = other_person(idp, birthdate=date(1991, 2, 3), mobile="+989120009999", mobile_verified=True)
    browser = idp.new_browser()
    sign_in_at(browser, code)
    browser.get("/account?lang=en")
    refused = post_form(browser, "/account/proofing")
    assert refused.status_code == 400 and "The registry could not confirm your details." in page_text(refused.text)
    assert "Self-declared" in page_text(browser.get("/account?lang=en").text)
    person = idp.services.people.get_by_national_code(code)
    assert person is not None and person.proofing_tier == 1


def test_without_a_birth_date_only_the_counter_office_is_offered_and_level_three_needs_nothing(idp: Idp) -> None:
    code = other_person(idp, "005566778")
    browser = idp.new_browser()
    sign_in_at(browser, code)
    page = page_text(browser.get("/account?lang=en").text)
    assert "Verify with the civil registry" not in page and "Not recorded" in page
    assert "The civil registry check needs your birth date" in page
    idp.set_tier(3)
    sign_in_at(idp.browser, idp.national_code)
    page = page_text(idp.browser.get("/account?lang=en").text)
    assert "Verified in person (level 3)" in page and "every service is open to you" in page
    assert "Verify with the civil registry" not in page and "counter office with your national ID card" not in page


def test_every_sentence_the_profile_page_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [account_profile.REGISTRY_CONFIRMED, account_profile.REGISTRY_REFUSED]
    assert [m for m in messages if persian.gettext(m) == m] == []


def test_below_level_3_the_profile_says_how_to_reach_it_and_links_to_the_offices(idp: Idp) -> None:
    sign_in_at(idp.browser, idp.national_code)
    for lang, heading in (("en", "How to reach level 3"), ("fa", "چگونه به سطح ۳ برسید")):
        page = idp.browser.get(f"/account?lang={lang}").text
        assert heading in page and 'href="/offices"' in page
    page = page_text(idp.browser.get("/account?lang=en").text)
    assert "Bring your national ID card" in page and "birth certificate or your passport" in page
    idp.set_tier(3)
    page = idp.browser.get("/account?lang=en").text
    assert "How to reach level 3" not in page and 'href="/offices"' not in page
