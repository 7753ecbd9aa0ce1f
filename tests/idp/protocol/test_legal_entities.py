"""Acting for a legal entity: the "Act as" chooser, the `legal_entity` claim, and mandates that end.

The agency portal is driven with Authlib's OAuth 2.0 client; ID tokens are checked with joserfc
against our JWKS; the person's browser is a cookie-keeping HTTP client.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update
from starlette.testclient import TestClient

from clients.services import Service, ServiceCatalogue
from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from legal_entities.store_sql import RepresentationRow
from levels.iranian_input import make_national_code, make_national_id
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, ISSUER, PASSWORD, TX_RE, Idp, sign_in, submit_login, submit_step

ACME = make_national_id("1038028479")
BETA = make_national_id("1410022233")
AGENCY = "agency"
AGENCY_REDIRECT = "https://agency.example/callback"
FULL = frozenset({"*", "delegate"})


def _import(idp: Idp, national_id: str, name: str, *officers: RegistryOfficer,
            status: EntityStatus = EntityStatus.ACTIVE, min_level: int | None = None) -> None:
    idp.services.acting.entities.import_registry(
        [RegistryEntity(national_id, name, "private_joint_stock", status, min_level, officers, line=1)],
        actor="test")


def _officer(national_code: str, role: str = "ceo", powers: frozenset[str] = FULL,
             until: datetime | None = None) -> RegistryOfficer:
    return RegistryOfficer(national_code, role, powers, None, until)


@pytest.fixture
def agency(idp: Idp) -> str:
    """An agency portal asking for entity access, whose catalogue offers `tax.file` and `customs.declare`."""
    secret = idp.add_client(
        AGENCY, redirect_uris=[AGENCY_REDIRECT], grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "offline_access", "legal_entity"])
    catalogue = ServiceCatalogue(idp.services.clients, idp.services.services)
    for scope in ("tax.file", "customs.declare"):
        catalogue.add(Service(AGENCY, scope, 1))
    return secret or ""


class Portal:
    """The agency portal's side of one authorization: Authlib builds the request and redeems the code."""

    def __init__(self, idp: Idp, secret: str, scope: str = "openid legal_entity offline_access") -> None:
        self.idp = idp
        self.oauth = idp.oauth(AGENCY, client_secret=secret, redirect_uri=AGENCY_REDIRECT, scope=scope)
        self.verifier = "v" * 64

    def url(self, **extra: str) -> str:
        url, _ = self.oauth.create_authorization_url(
            f"{ISSUER}/authorize", code_verifier=self.verifier, nonce="n", ui_locales="en", **extra)
        return url

    def redeem(self, location: str) -> dict[str, object]:
        assert location.startswith(AGENCY_REDIRECT), location
        return dict(self.oauth.fetch_token(f"{ISSUER}/token", authorization_response=location,
                                           code_verifier=self.verifier))

    def id_claims(self, token: dict[str, object]) -> dict[str, object]:
        keys = KeySet.import_key_set(self.idp.browser.get("/jwks").json())
        return dict(jwt.decode(str(token["id_token"]), keys).claims)

    def refresh(self, token: dict[str, object]) -> httpx.Response:
        return self.idp.browser.post("/token", auth=(AGENCY, self.oauth.client_secret), data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]})

    def introspect(self, token: str) -> dict[str, object]:
        r = self.idp.browser.post("/introspect", auth=(AGENCY, self.oauth.client_secret), data={"token": token})
        assert r.status_code == 200, r.text
        return dict(r.json())


def _chooser(browser: TestClient, response: httpx.Response) -> httpx.Response:
    location = response.headers.get("location", "")
    assert location.startswith("/login/act-as?"), (response.status_code, location)
    page = browser.get(location)
    assert page.status_code == 200
    return page


def _choices(page: httpx.Response) -> dict[str, str]:
    """The chooser's buttons: visible title -> submitted value."""
    found = re.findall(r'name="choice" value="([^"]+)" class="choice">\s*<span class="choice-title">([^<]+)<',
                       page.text)
    return {title.strip(): value for value, title in found}


def _choose(browser: TestClient, page: httpx.Response, title: str) -> str:
    """Press the chooser button titled `title`; return where the browser ends up (the portal, or a step)."""
    csrf, tx = CSRF_RE.search(page.text), TX_RE.search(page.text)
    assert csrf and tx
    r = browser.post("/login/act-as", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                            "choice": _choices(page)[title]})
    assert r.status_code == 303, r.text
    r = browser.get(r.headers["location"])
    return r.headers["location"]


def _act_for(idp: Idp, portal: Portal, title: str, **extra: str) -> dict[str, object]:
    page = _chooser(idp.browser, sign_in(idp.browser, portal.url(**extra), idp.national_code))
    return portal.redeem(_choose(idp.browser, page, title))


def _userinfo(idp: Idp, access_token: str) -> httpx.Response:
    return idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_chooser_offers_myself_and_each_company_and_the_tokens_state_the_company(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    _import(idp, BETA, "Beta Shipping", _officer(idp.national_code, "signatory"))
    portal = Portal(idp, agency)
    page = _chooser(idp.browser, sign_in(idp.browser, portal.url(), idp.national_code))
    assert "Act as" in page.text
    assert set(_choices(page)) == {"Myself", "Acme Trading Co", "Beta Shipping"}

    token = portal.redeem(_choose(idp.browser, page, "Acme Trading Co"))
    claims = portal.id_claims(token)
    assert claims["sub"] == idp.person_id  # the person stays the subject
    entity = claims["legal_entity"]
    assert entity["national_id"] == ACME and entity["name"] == "Acme Trading Co"
    assert entity["role"] == "ceo" and entity["powers"] == ["*"]
    access = portal.introspect(str(token["access_token"]))
    assert access["active"] is True and access["legal_entity"] == entity and access["sub"] == idp.person_id
    refresh = portal.introspect(str(token["refresh_token"]))
    assert refresh["active"] is True and refresh["legal_entity"] == entity
    info = _userinfo(idp, str(token["access_token"]))
    assert info.status_code == 200 and info.json()["legal_entity"] == entity


def test_myself_gives_tokens_without_a_company(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    portal = Portal(idp, agency)
    token = _act_for(idp, portal, "Myself")
    assert "legal_entity" not in portal.id_claims(token)
    assert "legal_entity" not in portal.introspect(str(token["access_token"]))


def test_no_chooser_without_the_scope_or_without_any_company(idp: Idp, agency: str) -> None:
    portal = Portal(idp, agency)  # nobody to act for yet
    location = sign_in(idp.browser, portal.url(), idp.national_code).headers["location"]
    assert "legal_entity" not in portal.id_claims(portal.redeem(location))

    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    plain = Portal(idp, agency, scope="openid profile")
    location = idp.browser.get(plain.url()).headers["location"]
    assert location.startswith(AGENCY_REDIRECT) and "code=" in location


def test_the_choice_is_remembered_per_client_until_select_account(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    portal = Portal(idp, agency)
    _act_for(idp, portal, "Acme Trading Co")

    again = idp.browser.get(portal.url(prompt="none"))
    token = portal.redeem(again.headers["location"])
    assert portal.id_claims(token)["legal_entity"]["national_id"] == ACME

    page = _chooser(idp.browser, idp.browser.get(portal.url(prompt="select_account")))
    token = portal.redeem(_choose(idp.browser, page, "Myself"))
    assert "legal_entity" not in portal.id_claims(token)
    token = portal.redeem(idp.browser.get(portal.url()).headers["location"])
    assert "legal_entity" not in portal.id_claims(token)


def test_prompt_none_without_a_choice_is_account_selection_required(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    sign_in(idp.browser, Portal(idp, agency, scope="openid").url(), idp.national_code)
    r = idp.browser.get(Portal(idp, agency).url(prompt="none", state="s1"))
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert r.headers["location"].startswith(AGENCY_REDIRECT)
    assert query["error"] == ["account_selection_required"] and query["state"] == ["s1"]


def test_only_companies_whose_powers_cover_the_requested_service_are_offered(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code, "employee", frozenset({"tax.file"})))
    _import(idp, BETA, "Beta Shipping", _officer(idp.national_code, "employee", frozenset({"customs.declare"})))
    page = _chooser(idp.browser, sign_in(idp.browser, Portal(idp, agency, scope="openid legal_entity tax.file")
                                         .url(), idp.national_code))
    assert set(_choices(page)) == {"Myself", "Acme Trading Co"}
    token = Portal(idp, agency).redeem(_choose(idp.browser, page, "Acme Trading Co"))
    assert Portal(idp, agency).id_claims(token)["legal_entity"]["powers"] == ["tax.file"]


def test_expired_mandate_is_not_offered_and_ends_tokens_issued_under_it(idp: Idp, agency: str) -> None:
    _import(idp, BETA, "Beta Shipping", _officer(idp.national_code, until=datetime.now(UTC) - timedelta(days=1)))
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code, until=datetime.now(UTC) + timedelta(days=30)))
    portal = Portal(idp, agency)
    page = _chooser(idp.browser, sign_in(idp.browser, portal.url(), idp.national_code))
    assert set(_choices(page)) == {"Myself", "Acme Trading Co"}
    token = portal.redeem(_choose(idp.browser, page, "Acme Trading Co"))
    # Time passes: the mandate's last day is behind us.
    with idp.services.engine.begin() as conn:
        conn.execute(update(RepresentationRow).values(valid_until=datetime.now(UTC) - timedelta(seconds=1)))
    r = portal.refresh(token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert portal.introspect(str(token["access_token"])) == {"active": False}


def test_revoked_mid_session_ends_refresh_introspection_and_userinfo(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    portal = Portal(idp, agency)
    token = _act_for(idp, portal, "Acme Trading Co")
    refreshed = portal.refresh(token)
    assert refreshed.status_code == 200 and "legal_entity" in portal.id_claims(refreshed.json())

    mandate_id = portal.id_claims(token)["legal_entity"]["mandate_id"]
    assert idp.services.acting.entities.revoke(mandate_id, actor="test", reason="left the company") == [mandate_id]

    r = portal.refresh(refreshed.json())
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "mandate" in r.json()["error_description"]
    assert portal.introspect(refreshed.json()["access_token"]) == {"active": False}
    assert portal.introspect(refreshed.json()["refresh_token"]) == {"active": False}
    assert _userinfo(idp, refreshed.json()["access_token"]).status_code == 401
    # The person's own sign-in is untouched: they can still act as themselves.
    location = idp.browser.get(portal.url()).headers["location"]
    assert "legal_entity" not in portal.id_claims(portal.redeem(location))


@pytest.mark.parametrize("status", [EntityStatus.DISSOLVED, EntityStatus.SUSPENDED])
def test_dissolved_or_suspended_entity_ends_its_tokens_and_leaves_the_chooser(
    idp: Idp, agency: str, status: EntityStatus
) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    portal = Portal(idp, agency)
    token = _act_for(idp, portal, "Acme Trading Co")
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code), status=status)

    assert portal.refresh(token).json()["error"] == "invalid_grant"
    assert portal.introspect(str(token["access_token"])) == {"active": False}
    location = idp.browser.get(portal.url(prompt="select_account")).headers["location"]
    assert location.startswith(AGENCY_REDIRECT)  # only "Myself" is left: no chooser
    assert "legal_entity" not in portal.id_claims(portal.redeem(location))


def test_an_entity_requiring_level_two_steps_the_person_up(idp: Idp, agency: str) -> None:
    idp.set_tier(2)
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code), min_level=2)
    portal = Portal(idp, agency)
    page = _chooser(idp.browser, sign_in(idp.browser, portal.url(), idp.national_code))
    assert "Needs a level 2 sign-in" in page.text
    step = _choose(idp.browser, page, "Acme Trading Co")
    assert step.startswith("/login/step?")
    step_page = idp.browser.get(step)
    assert 'name="method" value="sms"' in step_page.text
    done = submit_step(idp.browser, step_page.text, code=idp.last_sms_code())
    location = idp.browser.get(done.headers["location"]).headers["location"]
    claims = portal.id_claims(portal.redeem(location))
    assert claims["acr"] == "urn:idp:loa:2" and claims["legal_entity"]["national_id"] == ACME


def test_the_chooser_refuses_a_company_not_offered_and_a_missing_csrf_token(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    page = _chooser(idp.browser, sign_in(idp.browser, Portal(idp, agency).url(), idp.national_code))
    csrf, tx = CSRF_RE.search(page.text), TX_RE.search(page.text)
    assert csrf and tx
    r = idp.browser.post("/login/act-as", data={"csrf_token": csrf.group(1), "tx": tx.group(1), "choice": "m-0"})
    assert r.status_code == 400 and "Choose yourself or one of the companies listed." in r.text
    r = idp.browser.post("/login/act-as", data={"tx": tx.group(1), "choice": _choices(page)["Myself"]})
    assert r.status_code == 400 and "Your form expired" in r.text


def test_discovery_lists_the_scope_and_the_claim(sqlite_idp: Idp) -> None:
    meta = sqlite_idp.browser.get("/.well-known/openid-configuration").json()
    assert "legal_entity" in meta["scopes_supported"] and "legal_entity" in meta["claims_supported"]


# -- delegation from the account page ---------------------------------------------------------------

def _employee(idp: Idp) -> tuple[str, TestClient]:
    code = make_national_code("004433221")
    person = new_person(code, "Reza", "Karimi", now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    return code, idp.new_browser()


def _account_form(browser: TestClient, path: str, **fields: object) -> httpx.Response:
    page = browser.get("/account/security")  # any page with a form carries this browser's CSRF token
    assert page.status_code == 200, page.headers
    csrf = CSRF_RE.search(page.text)
    assert csrf
    return browser.post(path, data={"csrf_token": csrf.group(1), **fields})


def _alert(response: httpx.Response) -> str:
    """The error the page announces: the error summary's link to the field, or the alert's own text."""
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', response.text, re.S)
    assert found, response.text
    link = re.search(r"<a [^>]*>([^<]*)</a>", found.group(1))
    return (link.group(1) if link else re.sub(r"<[^>]+>", "", found.group(1))).strip()


def _signed_in_account(browser: TestClient, national_code: str) -> None:
    r = browser.get("/account/companies")
    assert r.headers["location"].startswith("/login?")
    page = browser.get(r.headers["location"])
    r = submit_login(browser, page.text, national_code, PASSWORD)
    assert r.headers["location"] == "/account/companies"
    assert browser.get("/account/companies?lang=en").status_code == 200  # English pages from here on


def test_a_chief_executive_delegates_to_an_employee_who_then_acts_for_the_company(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code))
    employee_code, employee = _employee(idp)
    _signed_in_account(idp.browser, idp.national_code)
    page = idp.browser.get("/account/companies?lang=en")
    assert "Companies I represent" in page.text and "Acme Trading Co" in page.text and "Give a mandate" in page.text

    until = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    r = _account_form(idp.browser, "/account/companies/grant", entity=ACME, national_code=employee_code,
                      role="employee", service="tax.file", until=until)
    assert r.status_code == 303 and r.headers["location"] == "/account/companies?done=granted"
    given = idp.browser.get("/account/companies?lang=en")
    assert "Mandates I have given" in given.text and employee_code in given.text

    portal = Portal(idp, agency)
    page = _chooser(employee, sign_in(employee, portal.url(), employee_code))
    assert set(_choices(page)) == {"Myself", "Acme Trading Co"}
    claims = portal.id_claims(portal.redeem(_choose(employee, page, "Acme Trading Co")))
    assert claims["legal_entity"]["role"] == "employee" and claims["legal_entity"]["powers"] == ["tax.file"]

    # The chief executive takes it back: the employee's next look at the chooser has no company.
    mandate_id = claims["legal_entity"]["mandate_id"]
    r = _account_form(idp.browser, "/account/companies/revoke", mandate=mandate_id, confirm="yes")
    assert r.status_code == 303
    location = employee.get(portal.url(prompt="select_account")).headers["location"]
    assert location.startswith(AGENCY_REDIRECT)


def test_delegation_beyond_ones_own_powers_or_term_is_refused(idp: Idp, agency: str) -> None:
    own_until = datetime.now(UTC) + timedelta(days=10)
    _import(idp, ACME, "Acme Trading Co",
            _officer(idp.national_code, "signatory", frozenset({"tax.file", "delegate"}), until=own_until))
    employee_code, _ = _employee(idp)
    _signed_in_account(idp.browser, idp.national_code)

    r = _account_form(idp.browser, "/account/companies/grant", entity=ACME, national_code=employee_code,
                      role="employee", service="customs.declare", until=own_until.date().isoformat())
    assert r.status_code == 400 and _alert(r) == "You cannot delegate powers you do not hold: customs.declare."
    later = (own_until + timedelta(days=30)).date().isoformat()
    r = _account_form(idp.browser, "/account/companies/grant", entity=ACME, national_code=employee_code,
                      role="employee", service="tax.file", until=later)
    assert r.status_code == 400 and _alert(r).startswith("A delegation cannot last longer than your own mandate")
    # In Persian the reason is translated and the last day is a Jalali date.
    idp.browser.get("/account/companies?lang=fa")
    r = _account_form(idp.browser, "/account/companies/grant", entity=ACME, national_code=employee_code,
                      role="employee", service="tax.file", until=later)
    assert r.status_code == 400 and "آخرین روز وکالت شما" in _alert(r)
    assert re.search(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", _alert(r))  # the Jalali day, in Persian digits
    assert idp.services.acting.entities.mandates_of(employee_code) == []


def test_without_the_delegate_power_there_is_no_form_and_no_grant(idp: Idp, agency: str) -> None:
    _import(idp, ACME, "Acme Trading Co", _officer(idp.national_code, "employee", frozenset({"tax.file"})))
    employee_code, _ = _employee(idp)
    _signed_in_account(idp.browser, idp.national_code)
    page = idp.browser.get("/account/companies?lang=en")
    assert "Acme Trading Co" in page.text and "Give a mandate" not in page.text
    r = _account_form(idp.browser, "/account/companies/grant", entity=ACME, national_code=employee_code,
                      role="employee", service="tax.file", until="")
    assert r.status_code == 400 and _alert(r) == "You cannot give mandates for this company."
    assert idp.services.acting.entities.mandates_of(employee_code) == []
