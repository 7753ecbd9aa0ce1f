"""The counter-office console over HTTP: who may use it, what it shows, and what a verification does."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from starlette.testclient import TestClient

from clients.registry import BuiltInClient, ClientExists
from levels.iranian_input import make_national_code, to_persian_digits
from levels.level import Level
from tests.idp.account.helpers import other_person, page_text, sign_in_at
from tests.idp.account.test_activate import NEW_PASSWORD, from_address, submit_code, submit_password
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, TX_RE, Idp, pkce_pair, submit_login
from tests.levels.authenticators.test_passkey import SoftAuthenticator

VISITOR_MOBILE = "+989127654321"


def open_office(idp: Idp, code: str = "THR-1") -> None:
    idp.services.offices.add(code, name_fa="دفتر پیشخوان مرکزی", name_en="Central counter office", province="Tehran")
    idp.services.offices.add_operator(code, idp.person_id)


def console_sign_in(browser: TestClient, national_code: str, page: str = "/office") -> httpx.Response:
    """Open a console page signed out and follow it through the provider's sign-in (national code
    and password) back to the console; the first response that is no redirect."""
    r = browser.get(page)
    for _ in range(12):
        if r.status_code not in (302, 303):
            return r
        location = r.headers["location"]
        if location.startswith("/login?"):
            r = submit_login(browser, browser.get(location).text, national_code, PASSWORD)
        else:
            r = browser.get(location)
    raise AssertionError("the console's sign-in did not finish")


def pending_cookie(idp: Idp) -> str:
    """The name of the cookie that keeps the console's pending sign-in (`__Host-` on https)."""
    return idp.services.cookies.cookie("idp_office_signin").name


def at_console(idp: Idp) -> TestClient:
    browser = idp.new_browser()
    r = console_sign_in(browser, idp.national_code)
    assert r.status_code == 200 and "میز کار دفتر پیشخوان" in r.text, page_text(r.text)
    return browser


def post(browser: TestClient, path: str, **fields: str) -> httpx.Response:
    page = browser.get("/office?lang=en")
    assert page.status_code == 200, page.text
    csrf = CSRF_RE.search(page.text)
    assert csrf
    return browser.post(path, data={"csrf_token": csrf.group(1), **fields})


def sms_texts(idp: Idp) -> list[tuple[str, str]]:
    path = idp.services.settings.sms_outbox
    if not path.exists():
        return []
    return [(m["to"], m["text"]) for m in map(json.loads, path.read_text(encoding="utf-8").splitlines())]


@pytest.fixture
def office_idp(make_idp) -> Idp:
    # Level 1 for the console: these tests are about the console, not about reaching level 3.
    idp = make_idp(office_level=1, office_daily_limit=5)
    open_office(idp)
    return idp


def test_an_operator_finds_and_verifies_a_person_in_person(office_idp):
    idp = office_idp
    visitor = other_person(idp, mobile=VISITOR_MOBILE, mobile_verified=True)
    browser = at_console(idp)
    # Typed with Persian digits, as a Persian keyboard writes them.
    found = post(browser, "/office/find", national_code=to_persian_digits(visitor))
    assert found.status_code == 200
    text = page_text(found.text)
    assert "Reza Karimi" in text and "*" in text and VISITOR_MOBILE not in found.text
    done = post(browser, "/office/verify", national_code=visitor, document_type="idcard",
                document_serial="AB1234567", photo_matches="yes", document_genuine="yes")
    assert done.status_code == 200, page_text(done.text)
    assert "now verified in person" in page_text(done.text)
    person = idp.services.people.get_by_national_code(visitor)
    assert person is not None and person.proofing_tier == 3
    record = idp.services.proofing_records.latest(person.id)
    assert record is not None and record.method == "in_person" and record.operator == f"THR-1/{idp.person_id}"
    audited = [r for r in idp.services.audit.for_person(person.id) if r.kind == "office.verified_in_person"]
    assert audited and audited[0].detail["office"] == "THR-1" and audited[0].detail["operator"] == idp.person_id
    assert any(to == VISITOR_MOBILE and "دفتر پیشخوان مرکزی" in text for to, text in sms_texts(idp))
    # The person sees it in their activity, in their language.
    own = idp.new_browser()
    sign_in_at(own, visitor, page="/account/history")
    activity = page_text(own.get("/account/history?lang=en").text)
    assert "Verified in person at office" in activity and "looked up your national code" in activity
    assert "Other activity" not in activity
    assert "دفتر پیشخوان مرکزی" in own.get("/account/history?lang=fa").text
    # The operator's own history lists both actions, newest first.
    history = page_text(browser.get("/office/history?lang=en").text)
    assert history.index("Recorded an in-person verification") < history.index("Looked up a national code")


def test_both_checks_are_required(office_idp):
    visitor = other_person(office_idp)
    browser = at_console(office_idp)
    refused = post(browser, "/office/verify", national_code=visitor, document_type="idcard",
                   document_serial="AB1234567", photo_matches="yes")
    assert refused.status_code == 400 and "tick both" in page_text(refused.text)
    person = office_idp.services.people.get_by_national_code(visitor)
    assert person is not None and person.proofing_tier == 1


@pytest.mark.parametrize("junk", ["", "123", "abc", "0000000000", "1" * 5000, "۱۲۳", "\x00", "12345678901"])
def test_junk_national_codes_get_a_clear_message(office_idp, junk):
    browser = at_console(office_idp)
    r = post(browser, "/office/find", national_code=junk)
    # Over-long values and control characters are refused by the form reader itself, also in words.
    said = page_text(r.text)
    assert r.status_code == 400 and ("not a valid national code" in said or "not valid" in said)
    r = post(browser, "/office/verify", national_code=junk, document_type="idcard", document_serial="X1",
             photo_matches="yes", document_genuine="yes")
    assert r.status_code == 400


def test_a_form_without_its_csrf_token_is_refused(office_idp):
    visitor = other_person(office_idp)
    browser = at_console(office_idp)
    r = browser.post("/office/verify", data={"national_code": visitor, "document_type": "idcard",
                                             "document_serial": "AB1234567", "photo_matches": "yes",
                                             "document_genuine": "yes"})
    assert r.status_code == 403
    person = office_idp.services.people.get_by_national_code(visitor)
    assert person is not None and person.proofing_tier == 1


def test_a_non_operator_is_refused_after_signing_in(idp):
    # At the default office level (3): someone who is no operator is never asked for more than a sign-in.
    open_office(idp)
    visitor = other_person(idp)
    browser = idp.new_browser()
    r = console_sign_in(browser, visitor, page="/office?lang=en")
    assert r.status_code == 403 and "Only operators" in page_text(r.text)
    assert browser.get("/office/history").status_code == 403


def test_an_operator_of_a_disabled_office_is_refused(idp):
    open_office(idp)
    idp.services.offices.set_active("THR-1", False)
    browser = idp.new_browser()
    r = console_sign_in(browser, idp.national_code, page="/office?lang=en")
    assert r.status_code == 403 and "not active" in page_text(r.text)


def test_an_office_disabled_while_its_operator_works_closes_the_console(office_idp):
    browser = at_console(office_idp)
    office_idp.services.offices.set_active("THR-1", False)
    r = browser.get("/office?lang=en")
    assert r.status_code == 403 and "not active" in page_text(r.text)


def test_the_daily_limit_refuses_more_actions(office_idp):
    visitor = other_person(office_idp)
    browser = at_console(office_idp)
    for _ in range(5):
        assert post(browser, "/office/find", national_code=visitor).status_code == 200
    r = post(browser, "/office/find", national_code=visitor)
    assert r.status_code == 429 and "today's limit" in page_text(r.text)
    r = post(browser, "/office/verify", national_code=visitor, document_type="idcard", document_serial="AB1234567",
             photo_matches="yes", document_genuine="yes")
    assert r.status_code == 429
    person = office_idp.services.people.get_by_national_code(visitor)
    assert person is not None and person.proofing_tier == 1


def test_assisted_registration_creates_a_level_3_account_whose_texted_code_sets_the_password(office_idp):
    browser = at_console(office_idp)
    newcomer = make_national_code("556677889")
    missing = post(browser, "/office/find", national_code=newcomer)
    assert missing.status_code == 404 and "/office/register" in missing.text
    r = post(browser, "/office/register", national_code=newcomer, given_name="Maryam", family_name="Rahimi",
             birthdate="1360/05/01", mobile="09127654321", document_type="birth_certificate",
             document_serial="123456", photo_matches="yes", document_genuine="yes")
    assert r.status_code == 200, page_text(r.text)
    person = office_idp.services.people.get_by_national_code(newcomer)
    assert person is not None and person.proofing_tier == 3 and person.mobile == VISITOR_MOBILE
    # The text message carries an activation code for /activate; the code sets the first password.
    texts = [text for to, text in sms_texts(office_idp) if to == VISITOR_MOBILE and "/activate" in text]
    assert len(texts) == 1 and "دفتر پیشخوان مرکزی" in texts[0] and "/recover" not in texts[0]
    code = re.search(r"\b\d{8}\b", texts[0])
    assert code, texts[0]
    assert "7 days" in page_text(r.text)
    audited = [row.kind for row in office_idp.services.audit.for_person(person.id)]
    assert "activation.issued" in audited
    own = office_idp.new_browser()
    accepted = submit_code(own, newcomer, code.group(0))
    assert accepted.status_code == 303, page_text(accepted.text)
    done = submit_password(own, accepted.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/account?done=activated"
    sign_in_at(office_idp.new_browser(), newcomer, password=NEW_PASSWORD)
    again = post(browser, "/office/register", national_code=newcomer, given_name="M", family_name="R",
                 birthdate="1360/05/01", mobile="09127654321", document_type="passport", document_serial="X9",
                 photo_matches="yes", document_genuine="yes")
    assert again.status_code == 409


def test_the_console_asks_the_sign_in_for_its_level_and_a_stopped_sign_in_is_explained(idp):
    open_office(idp)  # the operator is at proofing tier 1: level 3 is out of reach today
    browser = idp.new_browser()
    r = console_sign_in(browser, idp.national_code, page="/office?lang=en")
    # Signed in with a password, the console asked for level 3: the sign-in says what is missing.
    assert r.status_code == 200 and "needs assurance level 3" in page_text(r.text), page_text(r.text)
    assert "Counter-office console" in page_text(r.text)
    tx = TX_RE.search(r.text)
    assert tx
    pending = idp.services.transactions.load(tx.group(1))
    assert pending is not None and pending.client_id == "idp-office-console"
    assert dict(pending.params)["acr_values"] == idp.services.policy.acr(Level(3))
    csrf = CSRF_RE.search(r.text)
    assert csrf
    cancelled = browser.post("/login/cancel", data={"csrf_token": csrf.group(1), "tx": tx.group(1)})
    assert cancelled.status_code in (302, 303)
    assert cancelled.headers["location"].startswith(f"{ISSUER}/office/callback?")
    assert "error=unmet_authentication_requirements" in cancelled.headers["location"]
    page = browser.get(cancelled.headers["location"])
    assert page.status_code == 403
    said = page_text(page.text)
    assert "The console did not open" in said and "needs a sign-in at level 3" in said
    assert 'href="/office"' in page.text
    assert pending_cookie(idp) not in browser.cookies  # the pending sign-in is forgotten
    fa = browser.get(cancelled.headers["location"].replace("?", "?lang=fa&", 1))
    assert fa.status_code == 400 and "میز کار باز نشد" in fa.text  # the state is spent: shown in Persian


def test_an_operator_steps_up_with_a_passkey_and_no_live_code_is_left(idp):
    open_office(idp)
    idp.set_tier(3)
    authenticator = SoftAuthenticator(rp_id="idp.test", origin=ISSUER)
    options = idp.services.passkeys.registration_options(idp.person_id, idp.national_code, "Sara Ahmadi")
    credential = idp.services.passkeys.register(idp.person_id, authenticator.create(options))
    credential_id = base64.urlsafe_b64decode(credential.credential_id + "=" * (-len(credential.credential_id) % 4))
    browser = idp.new_browser()
    step = console_sign_in(browser, idp.national_code, page="/office?lang=en")
    assert step.status_code == 200 and "Use a passkey" in step.text, page_text(step.text)
    factor_options = html.unescape(re.search(r'data-options="([^"]+)"', step.text).group(1))  # type: ignore[union-attr]
    handle = re.search(r'name="handle" value="([^"]+)"', step.text).group(1)  # type: ignore[union-attr]
    r = browser.post("/login/step", data={
        "csrf_token": CSRF_RE.search(step.text).group(1),  # type: ignore[union-attr]
        "tx": TX_RE.search(step.text).group(1),  # type: ignore[union-attr]
        "method": "passkey", "handle": handle, "credential": authenticator.get(factor_options, credential_id)})
    callback = None
    while r.status_code in (302, 303):
        if "/office/callback?" in r.headers["location"]:
            callback = r.headers["location"]
        r = browser.get(r.headers["location"])
    assert r.status_code == 200 and "Counter-office console" in page_text(r.text)
    assert callback is not None and "code=" in callback
    # The code was redeemed by the console: it is no longer good at the token endpoint.
    code = parse_qs(urlparse(callback).query)["code"][0]
    tokens = browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                          "client_id": "idp-office-console",
                                          "redirect_uri": f"{ISSUER}/office/callback", "code_verifier": "x" * 43})
    assert tokens.status_code == 400 and tokens.json()["error"] == "invalid_grant"
    # Coming back to the callback again is a clear page, not a second way in.
    again = browser.get(callback + "&lang=en")
    assert again.status_code == 400 and "expired" in page_text(again.text)
    # The console is nobody's connected service, and the history page opens without another sign-in.
    assert "Counter-office console" not in page_text(browser.get("/account/services?lang=en").text)
    # Where the person is signed in names the console in their language.
    assert "میز کار دفتر پیشخوان" in browser.get("/account/sessions?lang=fa").text
    assert browser.get("/office/history?lang=en").status_code == 200


@pytest.mark.parametrize("query", [
    "", "state=x&code=y", "error=access_denied", "state=" + "a" * 5000, "code=%00&state=%ff",
    "error=%3Cscript%3E&state=x",
])
def test_the_callback_without_its_sign_in_is_a_page_never_a_crash(sqlite_idp, query):
    browser = sqlite_idp.new_browser()
    r = browser.get(f"/office/callback?lang=en&{query}")
    assert r.status_code == 400 and "expired or was started in another window" in page_text(r.text)
    assert "<script>" not in r.text


def test_a_callback_with_a_forged_state_or_code_is_refused(idp):
    open_office(idp)
    browser = idp.new_browser()
    started = browser.get("/office?lang=en")
    assert started.status_code == 303 and started.headers["location"].startswith("/authorize?")
    forged = browser.get("/office/callback?state=forged&code=whatever&lang=en")
    assert forged.status_code == 400 and "expired" in page_text(forged.text)
    # The state matches but the code is made up: no way in either.
    browser = idp.new_browser()
    browser.get("/office?lang=en")
    state = browser.cookies[pending_cookie(idp)].split(".")[0]
    made_up = browser.get(f"/office/callback?state={state}&code=made-up&lang=en")
    assert made_up.status_code == 400 and "Counter-office console" not in page_text(made_up.text)
    # An error the provider sent: explained in words, its code shown as sent.
    browser = idp.new_browser()
    browser.get("/office?lang=en")
    state = browser.cookies[pending_cookie(idp)].split(".")[0]
    denied = browser.get(f"/office/callback?state={state}&error=temporarily_unavailable&lang=en")
    assert denied.status_code == 400 and "could not be completed" in page_text(denied.text)
    assert "<code>temporarily_unavailable</code>" in denied.text


def test_a_console_code_brought_without_its_sign_in_is_spent_and_refused(office_idp):
    browser = at_console(office_idp)
    # A request for the console's code that this browser never started (e.g. a link from elsewhere).
    verifier, challenge = pkce_pair()
    r = browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": "idp-office-console", "redirect_uri": f"{ISSUER}/office/callback",
        "scope": "openid", "state": "from-elsewhere", "code_challenge": challenge, "code_challenge_method": "S256"}))
    assert r.status_code in (302, 303) and r.headers["location"].startswith(f"{ISSUER}/office/callback?code=")
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    page = browser.get(r.headers["location"] + "&lang=en")
    assert page.status_code == 400 and "expired or was started in another window" in page_text(page.text)
    tokens = browser.post("/token", data={"grant_type": "authorization_code", "code": code,
                                          "client_id": "idp-office-console",
                                          "redirect_uri": f"{ISSUER}/office/callback", "code_verifier": verifier})
    assert tokens.status_code == 400 and tokens.json()["error"] == "invalid_grant"


def test_the_console_client_is_built_in_and_cannot_be_changed(sqlite_idp):
    clients = sqlite_idp.services.clients
    console = clients.get("idp-office-console")
    assert console is not None and console.is_public and console.redirect_uris == (f"{ISSUER}/office/callback",)
    assert "idp-office-console" not in [c.client_id for c in clients.list()]
    for change in (lambda: clients.update("idp-office-console", name="Mine"),
                   lambda: clients.set_enabled("idp-office-console", False),
                   lambda: clients.rotate_secret("idp-office-console"),
                   lambda: clients.delete("idp-office-console")):
        with pytest.raises(BuiltInClient):
            change()
    with pytest.raises(ClientExists):
        clients.create(client_id="idp-office-console", name="Shadow", redirect_uris=["https://evil.example/cb"])
    assert clients.get("idp-office-console") == console


def test_the_public_list_of_offices_is_by_province_in_both_languages(sqlite_idp):
    sqlite_idp.services.offices.add("ISF-1", name_fa="دفتر اصفهان", name_en="Isfahan office", province="Isfahan")
    sqlite_idp.services.offices.add("OLD-1", name_fa="دفتر بسته", name_en="Closed office", province="Isfahan")
    sqlite_idp.services.offices.set_active("OLD-1", False)
    browser = sqlite_idp.new_browser()
    en = browser.get("/offices?lang=en")
    assert en.status_code == 200 and "Isfahan office" in en.text and "Closed office" not in en.text
    fa = browser.get("/offices?lang=fa")
    assert "دفتر اصفهان" in fa.text and "Isfahan office" not in fa.text


def test_every_console_sentence_has_a_persian_translation():
    from idp.account.history import EVENT_TEXT, OFFICE_TEXT
    from idp.office import console
    from idp.web.i18n import load_translations

    fa = load_translations()["fa"]
    sentences = [value for name, value in vars(console).items() if name.isupper() and isinstance(value, str)
                 and " " in value and not value.startswith("/")]
    sentences += [*console.DOCUMENT_TYPES.values(), *console.ACTION_TEXT.values(), OFFICE_TEXT]
    sentences += [text for kind, text in EVENT_TEXT.items() if kind.startswith("office.")]
    assert [s for s in sentences if fa.gettext(s) == s] == []


def test_a_console_form_answered_with_an_error_switches_language_to_the_console(office_idp):
    from tests.idp.web.test_language_switch import check_switch

    browser = at_console(office_idp)
    r = post(browser, "/office/find", national_code="123")
    assert r.status_code == 400
    check_switch(browser, r, "/office", {})


def test_an_operator_sends_a_new_activation_code_when_the_first_no_longer_works(make_idp):
    idp = make_idp(office_level=1, office_daily_limit=10, activation_max_attempts=2)
    open_office(idp)
    browser = at_console(idp)
    newcomer = make_national_code("556677889")
    post(browser, "/office/register", national_code=newcomer, given_name="Maryam", family_name="Rahimi",
         birthdate="1360/05/01", mobile="09127654321", document_type="birth_certificate",
         document_serial="123456", photo_matches="yes", document_genuine="yes")
    first = re.search(r"\b\d{8}\b", sms_texts(idp)[-1][1])
    assert first
    # Someone who knows the national code guesses twice: the code is used up.
    wrong = "12345678" if first.group(0) != "12345678" else "87654321"
    for n in range(2):
        assert submit_code(from_address(idp, f"203.0.113.{n + 1}"), newcomer, wrong).status_code == 400
    assert submit_code(from_address(idp, "203.0.113.9"), newcomer, first.group(0)).status_code == 400
    # At the counter again: the console offers a new code, sent to the mobile on the account.
    found = post(browser, "/office/find", national_code=newcomer)
    assert "/office/activation" in found.text
    sent = post(browser, "/office/activation", national_code=newcomer)
    assert sent.status_code == 200
    # The masked number, isolated left to right so that a Persian sentence keeps its "+" in place.
    assert "A new activation code was sent to \u2066+98912***4321\u2069" in page_text(sent.text)
    to, text = sms_texts(idp)[-1]
    second = re.search(r"\b\d{8}\b", text)
    assert to == VISITOR_MOBILE and second
    person = idp.services.people.get_by_national_code(newcomer)
    assert person is not None
    assert [r.detail["office"] for r in idp.services.audit.for_person(person.id)
            if r.kind == "activation.issued"] == ["THR-1", "THR-1"]
    own = idp.new_browser()
    accepted = submit_code(own, newcomer, second.group(0))
    assert accepted.status_code == 303
    assert submit_password(own, accepted.headers["location"]).status_code == 303
    # With a password set, the console no longer offers codes: the person resets it themselves.
    again = post(browser, "/office/find", national_code=newcomer)
    assert "/office/activation" not in again.text
    refused = post(browser, "/office/activation", national_code=newcomer)
    assert refused.status_code == 409 and "Forgot your password?" in page_text(refused.text)
    history = page_text(browser.get("/office/history?lang=en").text)
    assert "Sent a new activation code" in history


def test_a_person_with_a_password_is_offered_no_activation_code(office_idp):
    visitor = other_person(office_idp, mobile=VISITOR_MOBILE, mobile_verified=True)
    browser = at_console(office_idp)
    found = post(browser, "/office/find", national_code=visitor)
    assert found.status_code == 200 and "/office/activation" not in found.text
    assert post(browser, "/office/activation", national_code="123").status_code == 400
