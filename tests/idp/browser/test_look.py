"""The pages' look in a real headless Chromium (Debian's, never downloaded): our own Vazirmatn, the
header with the signed-in person and "Sign out", the footer's links from settings, no sideways
scrolling on a 390 px phone, the digits of each language, and `ui_locales` on the account pages."""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from idp.storage.store import MemoryStore
from idp.web.app import create_app
from tests.idp.browser import test_login as browser_login
from tests.idp.browser.harness import live_settings, relying_party_site, serve
from tests.idp.browser.test_login import LiveIdp
from tests.idp.conftest import PASSWORD, _build

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser

chromium = browser_login.chromium  # Debian Chromium, never downloaded; fails under CI=true

HELP, PRIVACY, CONTACT = "https://help.example/", "/static/fonts/OFL.txt", "mailto:help@example.org"
ACCOUNT_PAGES = ["/account", "/account/security", "/account/sessions", "/account/services", "/account/history",
                 "/account/companies"]
LATIN = re.compile("[0-9]")
PERSIAN = re.compile("[\u06f0-\u06f9\u0660-\u0669]")
# The text a person reads on the page: visible text nodes (not scripts, styles or <code>, a value
# copied as is into another program), the title and the placeholders; never what was typed.
READ_TEXT = """() => {
  const kept = new Set(["SCRIPT", "STYLE", "CODE", "TEXTAREA", "NOSCRIPT"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const out = [document.title];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let skip = false;
    for (let e = n.parentElement; e; e = e.parentElement) if (kept.has(e.tagName)) { skip = true; break; }
    if (!skip && n.parentElement.checkVisibility()) out.push(n.data);
  }
  for (const field of document.querySelectorAll("[placeholder]")) out.push(field.placeholder);
  return out.join("\\n");
}"""


@pytest.fixture
def live_idp(tmp_path: Path) -> Iterator[LiveIdp]:
    """The app on a loopback port, with the footer's three links set."""
    sock, settings = live_settings(tmp_path, help_url=HELP, privacy_url=PRIVACY, contact_url=CONTACT)
    base_url = settings.issuer
    idp = _build(settings, MemoryStore())
    try:
        with serve(create_app(settings, services=idp.services), sock), relying_party_site("Portal") as portal:
            idp.services.clients.update("portal", redirect_uris=[portal.callback])
            yield LiveIdp(base_url, idp, portal)
    finally:
        idp.services.engine.dispose()


def _context(chromium: Browser, live: LiveIdp, lang: str | None, width: int = 1200) -> tuple[BrowserContext, Page,
                                                                                            list[str]]:
    """A browser context (in `lang`, if given) whose page records console errors (CSP violations)."""
    context = chromium.new_context(viewport={"width": width, "height": 844})
    if lang:
        context.add_cookies([{"name": live.idp.services.cookies.lang.name, "value": lang, "url": live.base_url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return context, page, errors


def _sign_in(page: Page, national_code: str) -> None:
    page.locator("#national_code").fill(national_code)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()


def _authorize(page: Page, live: LiveIdp, acr: str | None = None) -> None:
    params = {"response_type": "code", "client_id": "portal", "redirect_uri": live.portal.callback,
              "scope": "openid", "state": secrets.token_urlsafe(8), "prompt": "consent",
              "code_challenge": create_s256_code_challenge(secrets.token_urlsafe(48)),
              "code_challenge_method": "S256"}
    if acr:
        params["acr_values"] = acr
    page.goto(f"{live.base_url}/authorize?{urlencode(params)}")


def _sign_in_pages(page: Page, live: LiveIdp) -> Iterator[str]:
    """Walk sign-in (with a wrong password first), consent, step-up (SMS), the level-3 page and the
    account pages, yielding at each; the person has level 2 afterwards."""
    idp = live.idp
    idp.set_tier(1)
    _authorize(page, live)
    yield "sign-in"
    page.locator("#national_code").fill(idp.national_code)
    page.locator("#password").fill("not the password")
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()
    yield "sign-in refused"
    _sign_in(page, idp.national_code)
    page.wait_for_url(re.compile(r"/consent|/callback"))
    yield "consent"
    idp.set_tier(2)
    _authorize(page, live, "urn:idp:loa:2")
    assert urlparse(page.url).path == "/login/step"
    yield "step-up"
    page.locator("#code").fill(idp.last_sms_code())
    page.locator("form[action='/login/step'] button[type=submit]").first.click()
    page.wait_for_load_state()
    _authorize(page, live, "urn:idp:loa:3")
    yield "level 3"
    for path in ACCOUNT_PAGES:
        page.goto(live.base_url + path)
        assert urlparse(page.url).path == path
        yield path


def test_vazirmatn_is_served_by_us_and_draws_the_text(chromium: Browser, live_idp: LiveIdp) -> None:
    base = live_idp.base_url
    font = httpx.get(f"{base}/static/fonts/Vazirmatn-Variable.woff2", trust_env=False)
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff2"
    assert font.content[:4] == b"wOF2" and font.headers["x-content-type-options"] == "nosniff"
    licence = httpx.get(f"{base}/static/fonts/OFL.txt", trust_env=False)
    assert licence.status_code == 200 and "SIL Open Font License" in licence.text

    for lang in ("fa", "en"):
        context, page, errors = _context(chromium, live_idp, lang)
        page.goto(f"{base}/register")
        page.evaluate("document.fonts.ready")
        assert page.evaluate("[...document.fonts].some(f => f.family === 'Vazirmatn' && f.status === 'loaded')")
        # What the browser really drew the heading and a button with (not merely what CSS names).
        cdp = context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        for selector in ("h1", "button[type=submit]"):
            node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            assert [f["familyName"] for f in fonts] == ["Vazirmatn"], (lang, selector, fonts)
        assert page.locator("html").get_attribute("lang") == lang
        assert errors == []  # the CSP let the font in: a blocked font is a console error
        context.close()


def test_the_header_names_the_person_and_signs_out_with_a_form(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    base, idp = live_idp.base_url, live_idp.idp
    context, page, errors = _context(chromium, live_idp, "en")
    header = page.locator("header.site")
    page.goto(f"{base}/register")  # any page: signed out, the header names nobody
    expect(header.locator(".who")).to_have_count(0)
    expect(header.locator("img.emblem")).to_have_attribute("src", "/static/emblem.svg")
    expect(header).to_contain_text("National sign-in")

    page.goto(f"{base}/account/history")
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/account/history")
    expect(header.locator(".who")).to_contain_text("Sara Ahmadi")
    for path in ACCOUNT_PAGES:
        page.goto(base + path)
        expect(header.get_by_role("button", name="Sign out")).to_be_visible()

    # Signing out takes a POST with the page's CSRF token: a link (GET) or a forged form cannot.
    cookies = {c["name"]: c["value"] for c in context.cookies(base)}
    assert httpx.get(f"{base}/account/sign-out", cookies=cookies, trust_env=False).status_code == 405
    forged = httpx.post(f"{base}/account/sign-out", cookies=cookies, data={"csrf_token": "forged"},
                        trust_env=False)
    assert forged.status_code == 400
    page.reload()
    expect(header.locator(".who")).to_contain_text("Sara Ahmadi")

    header.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    expect(header.locator(".who")).to_have_count(0)
    assert idp.services.cookies.session.name not in {c["name"] for c in context.cookies(base)}
    page.goto(f"{base}/account/history")
    assert urlparse(page.url).path == "/login"
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/account/history")
    expect(page.locator("li.event", has_text="Session ended (signed out from the account page)")).to_have_count(1)
    assert errors == []
    context.close()


def test_the_footer_links_come_from_the_settings(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    for lang, names in (("en", ["Help", "Privacy", "Contact us"]), ("fa", ["راهنما", "حریم خصوصی", "تماس با ما"])):
        context, page, _ = _context(chromium, live_idp, lang)
        page.goto(f"{live_idp.base_url}/register")
        links = page.locator("footer.site nav a")
        expect(links).to_have_text(names)
        assert [links.nth(i).get_attribute("href") for i in range(3)] == [HELP, PRIVACY, CONTACT]
        links.nth(1).click()  # a path on this server
        expect(page).to_have_url(live_idp.base_url + PRIVACY)
        context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_nothing_scrolls_sideways_on_a_390_px_phone(chromium: Browser, live_idp: LiveIdp, lang: str) -> None:
    context, page, _ = _context(chromium, live_idp, lang, width=390)
    seen = []
    for where in _sign_in_pages(page, live_idp):
        page.evaluate("document.fonts.ready")
        width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width[0] <= width[1], (where, width)
        # A moment (day and time) never breaks across lines.
        for box in page.locator(".nowrap").all():
            lines = "e => new Set([...e.getClientRects()].map(r => Math.round(r.top))).size"
            assert box.evaluate(lines) == 1, where
        seen.append(where)
    assert "step-up" in seen and "/account/history" in seen
    context.close()


def test_persian_pages_show_persian_digits_and_english_pages_latin_ones(chromium: Browser,
                                                                         live_idp: LiveIdp) -> None:
    for lang, wrong in (("fa", LATIN), ("en", PERSIAN)):
        context, page, _ = _context(chromium, live_idp, lang)
        read = {}
        for where in _sign_in_pages(page, live_idp):
            text = page.evaluate(READ_TEXT)
            assert not wrong.search(text), (lang, where, wrong.findall(text), text)
            read[where] = text
        page.goto(f"{live_idp.base_url}/register")
        text = page.evaluate(READ_TEXT)
        assert not wrong.search(text), (lang, "/register", text)
        context.close()
        # Numbers were there to see: the hint, the level asked for, the birth date (Jalali), the
        # national code, moments in the activity.
        if lang == "fa":
            assert "۱۰ رقم" in read["sign-in"] and "۳" in read["level 3"]
            assert "۱۳۶۹/۰۱/۰۱" in read["/account"] and "۰۰۱۲۳۴۵۶۷" in read["/account"]
            assert re.search("[۰-۹]{4}/[۰-۹]{2}/[۰-۹]{2} [۰-۹]{2}:[۰-۹]{2}", read["/account/history"])
        else:
            assert "10 digits" in read["sign-in"] and "1990-03-21" in read["/account"]
            assert re.search("[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}", read["/account/history"])


def test_the_account_pages_follow_ui_locales_and_the_language_switch(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    base, idp = live_idp.base_url, live_idp.idp
    context, page, errors = _context(chromium, live_idp, None)  # no earlier choice: Persian by default
    html = page.locator("html")

    # A service's link asks for English: the sign-in it leads to and the account stay English.
    page.goto(f"{base}/account?ui_locales=en-GB%20fa")
    assert urlparse(page.url).path == "/login"
    expect(html).to_have_attribute("lang", "en")
    _sign_in(page, idp.national_code)
    page.wait_for_url(f"{base}/account")
    expect(html).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    page.locator("nav.tabs").get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()

    # Signed in, too; and the language switch is on every account page.
    page.goto(f"{base}/account/sessions?ui_locales=fa")
    expect(html).to_have_attribute("lang", "fa")
    expect(html).to_have_attribute("dir", "rtl")
    for path in ACCOUNT_PAGES:
        page.goto(base + path)
        expect(html).to_have_attribute("lang", "fa")
        page.locator("nav.lang").get_by_role("link", name="English").click()
        expect(html).to_have_attribute("lang", "en")
        assert urlparse(page.url).path == path
        page.locator("nav.lang").get_by_role("link", name="فارسی").click()
        expect(html).to_have_attribute("lang", "fa")

    # Names in the other script are isolated inside a sentence: the client's, the person's.
    _authorize(page, live_idp, "urn:idp:loa:3")
    expect(page.locator("bdi.client")).to_have_text("Tax portal")
    page.goto(f"{base}/account")
    expect(page.locator("header.site .who bdi")).to_have_text("Sara Ahmadi")
    assert errors == []
    context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_sign_in_and_consent_show_the_service_by_its_name_logo_and_pages(
    chromium: Browser, live_idp: LiveIdp, lang: str, tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    portal = live_idp.portal
    names = {"fa": "سامانهٔ مالیاتی کشور", "en": "National tax administration"}
    live_idp.idp.services.clients.update(
        "portal", name_fa=names["fa"], name_en=names["en"], logo_uri=portal.logo,
        policy_uri=f"http://127.0.0.1:{portal.port}/privacy", tos_uri=f"http://127.0.0.1:{portal.port}/terms")
    context, page, errors = _context(chromium, live_idp, lang, width=390)
    _authorize(page, live_idp)
    logo = page.locator("img.client-logo")
    for where in ("sign-in", "consent"):
        expect(page.locator("p.lead bdi")).to_have_text(names[lang])
        expect(page.locator("body")).not_to_contain_text(names["en" if lang == "fa" else "fa"])
        # Drawn: the policy let the agency's origin in (a blocked image is a console error).
        expect(logo).to_be_visible()
        assert logo.evaluate("img => img.complete && img.naturalWidth") == 48, where
        terms = page.locator("p.client-terms a")
        expect(terms).to_have_count(2)
        assert [terms.nth(i).get_attribute("href") for i in range(2)] == [
            f"http://127.0.0.1:{portal.port}/privacy", f"http://127.0.0.1:{portal.port}/terms"]
        page.screenshot(path=str(tmp_path / f"{where}-{lang}.png"), full_page=True)
        if where == "sign-in":
            _sign_in(page, live_idp.idp.national_code)
            page.wait_for_url(re.compile(r"/login/consent"))
    assert errors == []
    context.close()


def test_a_logo_whose_server_does_not_answer_is_hidden_not_shown_broken(chromium: Browser, live_idp: LiveIdp) -> None:
    from playwright.sync_api import expect

    with socket.socket() as closed:  # a port nobody listens on: the agency's server is down
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    live_idp.idp.services.clients.update("portal", name_en="National tax administration",
                                         logo_uri=f"http://127.0.0.1:{port}/logo.svg")
    context, page, _ = _context(chromium, live_idp, "en", width=390)
    _authorize(page, live_idp)
    expect(page.locator("img.client-logo")).to_be_hidden()
    expect(page.locator("p.lead")).to_contain_text("to continue to National tax administration")
    context.close()
