"""The demo data `make run` prints must actually work: sign in with it and redeem the code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import legal_entities
from idp.demo.data import MACHINE_ID, PORTAL_ID, PORTAL_REDIRECT, seed
from tests.idp.conftest import ISSUER, Idp, sign_in


def test_demo_credentials_and_authorization_url_work_end_to_end(sqlite_idp: Idp) -> None:
    svc = sqlite_idp.services
    creds = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)
    again = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)  # re-running `make run` is fine
    assert again.password != creds.password

    r = sign_in(sqlite_idp.new_browser(), creds.authorize_url, again.national_code, again.password)
    assert r.status_code == 302 and r.headers["location"].startswith(PORTAL_REDIRECT + "?code=")
    code = parse_qs(urlparse(r.headers["location"]).query)["code"][0]
    token = sqlite_idp.browser.post("/token", auth=(PORTAL_ID, again.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL_REDIRECT,
        "code_verifier": creds.code_verifier})
    assert token.status_code == 200 and {"id_token", "refresh_token"} <= token.json().keys()

    machine = sqlite_idp.browser.post("/token", auth=(MACHINE_ID, again.machine_secret),
                                      data={"grant_type": "client_credentials"})
    assert machine.status_code == 200 and machine.json()["scope"] == "inquiry.read"


def test_demo_company_walk_through_chief_executive_delegates_and_the_employee_acts(sqlite_idp: Idp) -> None:
    """The legal-entity walk-through `make run` prints: import the demo company, the chief executive
    gives the employee a mandate on the account page, the employee acts for the company."""
    import re
    from datetime import date, timedelta
    from pathlib import Path

    from legal_entities.registry_file import read_registry_file
    from tests.idp.conftest import CSRF_RE, TX_RE, submit_login

    svc = sqlite_idp.services
    creds = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)
    demo_file = Path(legal_entities.__file__).parent / "data" / "demo-companies.csv"
    report = svc.acting.entities.import_registry(read_registry_file(demo_file), actor="test")
    assert report.entities_created == 1 and report.representations_added == 1

    ceo = sqlite_idp.new_browser()
    login = ceo.get(ceo.get("/account/companies").headers["location"])
    assert submit_login(ceo, login.text, creds.national_code, creds.password).status_code == 303
    page = ceo.get("/account/companies?lang=en")
    assert "Demo Trading Company" in page.text
    csrf = CSRF_RE.search(page.text)
    assert csrf
    r = ceo.post("/account/companies/grant", data={
        "csrf_token": csrf.group(1), "entity": "10380284790", "national_code": creds.employee_national_code,
        "role": "employee", "service": "tax.file", "until": (date.today() + timedelta(days=30)).isoformat()})
    assert r.status_code == 303, r.text

    employee = sqlite_idp.new_browser()
    r = sign_in(employee, creds.entity_authorize_url + "&ui_locales=en", creds.employee_national_code,
                creds.employee_password)
    chooser = employee.get(r.headers["location"])
    assert "Act as" in chooser.text and "Demo Trading Company" in chooser.text
    mandate = re.search(r'name="choice" value="(m-[0-9a-f]+)"', chooser.text)
    csrf, tx = CSRF_RE.search(chooser.text), TX_RE.search(chooser.text)
    assert mandate and csrf and tx
    r = employee.post("/login/act-as", data={"csrf_token": csrf.group(1), "tx": tx.group(1),
                                             "choice": mandate.group(1)})
    location = employee.get(r.headers["location"]).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    token = sqlite_idp.browser.post("/token", auth=(PORTAL_ID, creds.portal_secret), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": PORTAL_REDIRECT,
        "code_verifier": creds.code_verifier})
    assert token.status_code == 200
    info = sqlite_idp.browser.get("/userinfo", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert info.json()["legal_entity"]["name"] == "Demo Trading Company"
    assert info.json()["legal_entity"]["powers"] == ["tax.file"]


def test_the_demo_office_has_the_demo_citizen_as_operator(sqlite_idp: Idp) -> None:
    from idp.demo.data import seed_office

    svc = sqlite_idp.services
    creds = seed(svc.clients, svc.services, svc.people, svc.passwords, ISSUER)
    code = seed_office(svc.offices, svc.people)
    assert seed_office(svc.offices, svc.people) == code  # re-running `make run` is fine
    person = svc.people.get_by_national_code(creds.national_code)
    assert person is not None
    desk = svc.offices.desk(person.id)
    assert desk is not None and desk[1].code == code
    assert code in sqlite_idp.browser.get("/offices?lang=en").text
