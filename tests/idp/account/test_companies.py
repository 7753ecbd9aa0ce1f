"""The account page "Companies I represent": giving mandates and taking them back, over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from starlette.testclient import TestClient

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
    found = re.search(r'role="alert">([^<]*)<', response.text)
    assert found, response.text
    return found.group(1).strip()


def _grant(idp: Idp, national_code: str) -> httpx.Response:
    until = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    return _post(idp.browser, "/account/companies/grant", entity=ACME, national_code=national_code,
                 role="employee", services="tax.file", until=until)


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
    r = _post(sqlite_idp.browser, "/account/companies/revoke", mandate=given.representation.id)
    assert r.status_code == 303 and r.headers["location"] == "/account/companies?done=revoked"
    assert sqlite_idp.services.acting.entities.mandates_of(EMPLOYEE) == []
