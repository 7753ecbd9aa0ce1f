"""The account page "Companies I represent": giving mandates and taking them back, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from starlette.testclient import TestClient

from clients.services import Service, ServiceCatalogue
from legal_entities.models import EntityStatus, RegistryEntity, RegistryOfficer
from levels.iranian_input import make_national_code, make_national_id
from levels.people import new_person
from tests.idp.conftest import CSRF_RE, PASSWORD, Idp, submit_login

ACME = make_national_id("1038028479")
EMPLOYEE = make_national_code("004433221")
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def _setup(idp: Idp) -> None:
    """Acme with the signed-in person as its chief executive, an employee with an account, and the
    chief executive's browser signed in on the companies page."""
    idp.services.acting.entities.import_registry([RegistryEntity(
        ACME, "Acme Trading Co", "private_joint_stock", EntityStatus.ACTIVE, None,
        (RegistryOfficer(idp.national_code, "ceo", frozenset({"*", "delegate"}), None, None),), line=1)],
        actor="test")
    ServiceCatalogue(idp.services.clients, idp.services.services).add(Service("portal", "tax.file", 2))
    person = new_person(EMPLOYEE, "Reza", "Karimi", now=datetime.now(UTC))
    idp.services.people.add(person)
    idp.services.people.set_password_hash(person.id, idp.services.passwords.hash(PASSWORD), datetime.now(UTC))
    r = idp.browser.get("/account/companies")
    page = idp.browser.get(r.headers["location"])
    r = submit_login(idp.browser, page.text, idp.national_code, PASSWORD)
    assert r.headers["location"] == "/account/companies"
    assert idp.browser.get("/account/companies?lang=en").status_code == 200


def _post(browser: TestClient, path: str, **fields: object) -> httpx.Response:
    csrf = CSRF_RE.search(browser.get("/account/security").text)
    assert csrf
    return browser.post(path, data={"csrf_token": csrf.group(1), **fields})


def _alert(response: httpx.Response) -> str:
    """The error the page announces: the error summary's link to the field, or the alert's own text."""
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', response.text, re.S)
    assert found, response.text
    link = re.search(r"<a [^>]*>([^<]*)</a>", found.group(1))
    return (link.group(1) if link else re.sub(r"<[^>]+>", "", found.group(1))).strip()


def _grant(idp: Idp, national_code: str) -> httpx.Response:
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    return _post(idp.browser, "/account/companies/grant", entity=ACME, national_code=national_code,
                 role="employee", service="tax.file", until=until)


def test_a_national_code_typed_without_its_leading_zero_is_accepted_as_at_sign_in(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    typed = EMPLOYEE[1:]  # 9 digits: sign-in reads it as the same person
    assert len(typed) == 9
    r = _grant(sqlite_idp, typed)
    assert r.status_code == 303 and r.headers["location"] == "/account/companies?done=granted", r.text
    [mandate] = sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)
    assert mandate.representation.national_code == EMPLOYEE


def test_a_national_code_in_persian_digits_with_spaces_is_accepted(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    r = _grant(sqlite_idp, f" {EMPLOYEE[:3]} {EMPLOYEE[3:]} ".translate(PERSIAN))
    assert r.status_code == 303, r.text
    assert len(sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)) == 1


def test_an_invalid_national_code_is_refused(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    for typed in ("", "12345", EMPLOYEE[:-1] + str((int(EMPLOYEE[-1]) + 1) % 10)):
        r = _grant(sqlite_idp, typed)
        assert r.status_code == 400 and _alert(r) == "Enter the national code of the person, 10 digits.", typed
    assert sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE) == []


def test_only_mandates_one_gave_can_be_taken_back(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    [own] = sqlite_idp.services.acting.entities.mandates_of(sqlite_idp.national_code)
    r = _post(sqlite_idp.browser, "/account/companies/revoke", mandate=own.representation.id)
    assert r.status_code == 400 and _alert(r) == "You can only take back mandates you gave."
    assert _grant(sqlite_idp, EMPLOYEE).status_code == 303
    [given] = sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)
    r = _post(sqlite_idp.browser, "/account/companies/revoke", mandate=given.representation.id, confirm="yes")
    assert r.status_code == 303 and r.headers["location"] == "/account/companies?done=revoked"
    assert sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE) == []


def test_the_mandate_form_offers_the_catalogue_services_by_agency_name(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    sqlite_idp.add_client("customs", name="Customs office", scopes=["openid"])
    ServiceCatalogue(sqlite_idp.services.clients, sqlite_idp.services.services).add(
        Service("customs", "customs.declare", 2))
    page = sqlite_idp.browser.get("/account/companies?lang=en").text
    groups = re.findall(r'<fieldset class="service-group">\s*<legend><bdi>([^<]+)</bdi></legend>(.*?)</fieldset>',
                        page, re.S)
    assert [(name, re.findall(r'name="service" value="([^"]+)"', body)) for name, body in groups] == [
        ("Customs office", ["customs.declare"]), ("Tax portal", ["tax.file"])]
    assert 'name="services"' not in page  # no free-text codes any more


def test_picked_services_become_the_mandate_powers(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    assert _grant(sqlite_idp, EMPLOYEE).status_code == 303
    [mandate] = sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)
    assert mandate.representation.powers == frozenset({"tax.file"})


def test_a_service_outside_the_catalogue_is_refused_next_to_the_field(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    for extra in ({"service": ["tax.file", "made.up"]}, {"power": "root"}):
        r = _post(sqlite_idp.browser, "/account/companies/grant", entity=ACME, national_code=EMPLOYEE,
                  role="employee", until=until, **extra)
        assert r.status_code == 400
        assert _alert(r) == "Choose services from the list. One of the chosen services is not offered."
        # The summary links to the field; the field says why and is marked invalid.
        assert '<a href="#services">' in r.text
        assert re.search(r'<fieldset[^>]*id="services"[^>]*aria-describedby="services-hint services-error"', r.text)
        assert 'id="services-error"' in r.text
        # What the person had chosen is kept.
        assert re.search(r'value="tax.file"\s+checked', r.text) or "power" in extra
    assert sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE) == []


def test_no_service_chosen_is_refused_next_to_the_field(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    r = _post(sqlite_idp.browser, "/account/companies/grant", entity=ACME, national_code=EMPLOYEE,
              role="employee", until="")
    assert r.status_code == 400 and _alert(r) == "Choose at least one power to delegate."
    assert 'id="services-error"' in r.text


def test_a_wrong_national_code_is_tied_to_its_field(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    r = _grant(sqlite_idp, "12345")
    assert '<a href="#national_code">' in r.text
    assert re.search(r'id="national_code"[^>]*aria-invalid="true" aria-describedby="national_code-error"', r.text)


def test_taking_a_mandate_back_asks_first(sqlite_idp: Idp) -> None:
    _setup(sqlite_idp)
    assert _grant(sqlite_idp, EMPLOYEE).status_code == 303
    [given] = sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)
    asked = _post(sqlite_idp.browser, "/account/companies/revoke", mandate=given.representation.id)
    assert asked.status_code == 200
    assert "Take this mandate back?" in asked.text and "Acme Trading Co" in asked.text and EMPLOYEE in asked.text
    assert f'name="mandate" value="{given.representation.id}"' in asked.text
    assert 'name="confirm" value="yes"' in asked.text and 'href="/account/companies"' in asked.text
    assert len(sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE)) == 1  # nothing changed yet
    csrf = CSRF_RE.search(asked.text)
    assert csrf
    done = sqlite_idp.browser.post("/account/companies/revoke", data={
        "csrf_token": csrf.group(1), "mandate": given.representation.id, "confirm": "yes"})
    assert done.status_code == 303 and sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE) == []


def test_services_and_agencies_are_named_in_the_page_language_in_the_picker_and_in_given_mandates(
    sqlite_idp: Idp,
) -> None:
    _setup(sqlite_idp)
    sqlite_idp.services.clients.update("portal", name_fa="سامانهٔ مالیاتی", name_en="Tax administration")
    ServiceCatalogue(sqlite_idp.services.clients, sqlite_idp.services.services).add(
        Service("portal", "tax.file", 2, name_fa="تسلیم اظهارنامه", name_en="File a tax return"))
    english = sqlite_idp.browser.get("/account/companies?lang=en").text
    assert re.search(r'value="tax.file"[^>]*> <bdi>File a tax return</bdi>', english)
    assert "<legend><bdi>Tax administration</bdi></legend>" in english
    persian = sqlite_idp.browser.get("/account/companies?lang=fa").text
    assert re.search(r'value="tax.file"[^>]*> <bdi>تسلیم اظهارنامه</bdi>', persian)
    assert "<legend><bdi>سامانهٔ مالیاتی</bdi></legend>" in persian
    assert _grant(sqlite_idp, EMPLOYEE).status_code == 303
    given = sqlite_idp.browser.get("/account/companies?lang=en").text.split("Mandates I have given", 1)[1]
    assert "<bdi>File a tax return</bdi>" in given and "<code" not in given
