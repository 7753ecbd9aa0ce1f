"""The account's activity page (`idp.account.history`): the person's own audit events, in words."""

from __future__ import annotations

import re
from html import unescape

from starlette.testclient import TestClient

from idp.account import history as account_history
from idp.web.i18n import load_translations
from tests.idp.account.helpers import (
    other_person,
    page_text,
    portal_url,
    post_form,
    sign_in_at,
)
from tests.idp.conftest import PASSWORD, Idp, submit_login


def _events(browser: TestClient) -> list[tuple[str, str]]:
    """(what, the rest of the line) for each entry of the activity page."""
    page = browser.get("/account/history?lang=en")
    assert page.status_code == 200
    items = re.findall(r'<li class="row event">\s*<strong class="what">([^<]+)</strong>(.*?)</li>', page.text, re.S)
    return [(unescape(what), page_text(rest)) for what, rest in items]


def test_activity_lists_sign_ins_and_the_failed_attempt_newest_first(idp: Idp) -> None:
    browser = idp.new_browser()
    r = browser.get(portal_url())
    login = browser.get(r.headers["location"] + "&lang=en")
    assert submit_login(browser, login.text, idp.national_code, "not the password").status_code == 400
    assert submit_login(browser, login.text, idp.national_code, PASSWORD).status_code == 303
    sign_in_at(idp.new_browser(), other_person(idp))  # someone else's sign-in is not in this list

    events = _events(browser)
    assert [what for what, _ in events] == ["Signed in", "Failed sign-in attempt"]
    for _, rest in events:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d · IP address: testclient · Tax portal$", rest), rest

    # Signing out everywhere shows with its reason in words; the account pages name no service.
    post_form(browser, "/account/sessions/end-all", confirm="yes")
    sign_in_at(browser, idp.national_code)
    events = _events(browser)
    assert [what for what, _ in events[:2]] == ["Signed in", "Session ended (signed out everywhere)"]
    assert "Tax portal" not in events[0][1]
    # In Persian, the Jalali calendar in Persian digits, the day and time on one line.
    persian = browser.get("/account/history?lang=fa").text
    moment = "۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2} [۰-۹]{2}:[۰-۹]{2}"
    assert re.search(rf"<time datetime=\"[^\"]+\"><span class=\"nowrap\">{moment}</span></time>", persian)


def test_every_sentence_the_activity_page_shows_has_a_persian_translation() -> None:
    persian = load_translations()["fa"]
    messages = [account_history.OTHER_EVENT, *account_history.EVENT_TEXT.values(),
                *account_history.END_REASON_TEXT.values(), account_history.EXCHANGE_TEXT]
    assert [m for m in messages if persian.gettext(m) == m] == []


def test_an_inquiry_made_on_the_persons_behalf_is_shown_with_both_agencies_and_the_service(idp: Idp) -> None:
    from tests.idp.flows import user_tokens
    from tests.idp.protocol.test_token_exchange import LAND, Agencies

    agencies = Agencies(idp)
    agencies.exchange("portal", user_tokens(idp)["access_token"], LAND, "land.ownership")
    events = _events(idp.browser)
    # Each name is isolated (FSI ... PDI) so that it keeps its place in a sentence of the other direction.
    assert events[0][0] == "\u2068Tax portal\u2069 asked \u2068Land registry\u2069 for \u2068land.ownership\u2069 " \
        "on your behalf"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d · Tax portal$", events[0][1]), events[0][1]
    persian = idp.browser.get("/account/history?lang=fa")
    first = re.search(r'<strong class="what">([^<]+)</strong>', persian.text)
    assert first and unescape(first.group(1)) == \
        "\u2068Tax portal\u2069 از طرف شما از \u2068Land registry\u2069 استعلام \u2068land.ownership\u2069 کرد"
