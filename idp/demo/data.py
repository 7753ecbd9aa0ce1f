"""Demo data for `make run`: one agency portal, one machine client, a citizen and an employee of hers.

The companies-registry file `legal_entities/data/demo-companies.csv` names the citizen chief executive
of a demo company, for the legal-entity walk-through in the README.

Credentials are fresh on every run (the secret and password are shown once, like in production);
nothing here is used outside the embedded development setup.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from clients.registry import ClientRegistry, UnknownClient
from clients.services import Service, ServiceCatalogue, ServiceStore
from levels.authenticators.password import Passwords
from levels.iranian_input import make_national_code
from levels.offices import Offices
from levels.people import SqlPersonStore, new_person

# Both demo portals are served by `idp demo-rp` on 127.0.0.1:8400 (see idp.demo.relying_party).
DEMO_RP = "http://127.0.0.1:8400"
PORTAL_ID = "demo-portal"
PORTAL_REDIRECT = f"{DEMO_RP}/callback"
PORTAL_PATHS = {"": "demo-portal", "/health": "demo-health-portal"}  # where `idp demo-rp` serves each
HEALTH_ID = "demo-health-portal"
MACHINE_ID = "demo-inquiry-client"
DEMO_NATIONAL_CODE = make_national_code("001234567")
EMPLOYEE_NATIONAL_CODE = make_national_code("004433221")
DEMO_SERVICE = "tax.file"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    portal_secret: str
    machine_secret: str
    national_code: str
    password: str
    code_verifier: str
    authorize_url: str
    employee_national_code: str
    employee_password: str
    entity_authorize_url: str
    health_secret: str
    health_authorize_url: str


def _ensure_client(registry: ClientRegistry, client_id: str, **fields: object) -> str:
    with contextlib.suppress(UnknownClient):
        registry.delete(client_id)
    _, secret = registry.create(client_id=client_id, **fields)  # type: ignore[arg-type]
    assert secret is not None
    return secret


def _pages(home: str) -> dict[str, str]:
    """A demo portal's home page, logo, privacy policy and terms, all served by `idp demo-rp`."""
    return {"client_uri": home, "logo_uri": f"{home}logo.svg", "policy_uri": f"{home}privacy",
            "tos_uri": f"{home}terms"}


def _ensure_person(people: SqlPersonStore, passwords: Passwords, national_code: str, given: str, family: str,
                   mobile: str) -> str:
    """The person, created if missing, with a fresh password (returned)."""
    person = people.get_by_national_code(national_code)
    if person is None:
        person = new_person(national_code, given, family, birthdate=date(1990, 3, 21), mobile=mobile,
                            mobile_verified=True, now=datetime.now(UTC))
        people.add(person)
    password = "demo-" + secrets.token_urlsafe(9)
    people.set_password_hash(person.id, passwords.hash(password), datetime.now(UTC))
    return password


def _authorize_url(issuer: str, scope: str, verifier: str, client_id: str, redirect_uri: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return f"{issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256",
    })


def seed(registry: ClientRegistry, services: ServiceStore, people: SqlPersonStore, passwords: Passwords,
         issuer: str, rp: str = DEMO_RP) -> DemoCredentials:
    """Register the demo portals (served by `idp demo-rp` at `rp`) and the demo people."""
    portal_secret = _ensure_client(
        registry, PORTAL_ID, name="Demo agency portal", name_fa="درگاه نمونه دستگاه", name_en="Demo agency portal",
        **_pages(f"{rp}/"), redirect_uris=[f"{rp}/callback"],
        post_logout_redirect_uris=[f"{rp}/"], backchannel_logout_uri=f"{rp}/backchannel-logout",
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "phone", "national_code", "offline_access", "legal_entity"],
    )
    # A second portal, not a trusted government one: it asks for consent, and is told of logouts
    # through both channels.
    health_secret = _ensure_client(
        registry, HEALTH_ID, name="Demo health insurance portal", name_fa="درگاه نمونه بیمه سلامت",
        name_en="Demo health insurance portal", **_pages(f"{rp}/health/"), redirect_uris=[f"{rp}/health/callback"],
        post_logout_redirect_uris=[f"{rp}/health/"], backchannel_logout_uri=f"{rp}/health/backchannel-logout",
        frontchannel_logout_uri=f"{rp}/health/frontchannel-logout", require_consent=True,
        grant_types=["authorization_code", "refresh_token"], scopes=["openid", "profile", "phone", "offline_access"],
    )
    ServiceCatalogue(registry, services).add(Service(
        PORTAL_ID, DEMO_SERVICE, 1, name_fa="تسلیم اظهارنامه مالیاتی (نمونه)", name_en="File a tax return (demo)"))
    machine_secret = _ensure_client(
        registry, MACHINE_ID, name="Demo inquiry back end", name_fa="سامانه نمونه استعلام",
        grant_types=["client_credentials"],
        scopes=["inquiry.read"], audiences=["https://inquiry.demo.gov.example"],
    )
    password = _ensure_person(people, passwords, DEMO_NATIONAL_CODE, "Sara", "Ahmadi", "+989121234567")
    employee_password = _ensure_person(people, passwords, EMPLOYEE_NATIONAL_CODE, "Reza", "Karimi",
                                       "+989121112233")
    # One PKCE verifier for both printed URLs: each code is redeemed with it.
    verifier = secrets.token_urlsafe(48)
    return DemoCredentials(
        portal_secret, machine_secret, DEMO_NATIONAL_CODE, password, verifier,
        _authorize_url(issuer, "openid profile phone offline_access", verifier, PORTAL_ID, f"{rp}/callback"),
        EMPLOYEE_NATIONAL_CODE, employee_password,
        _authorize_url(issuer, f"openid profile legal_entity {DEMO_SERVICE}", verifier, PORTAL_ID, f"{rp}/callback"),
        health_secret, _authorize_url(issuer, "openid profile phone", verifier, HEALTH_ID, f"{rp}/health/callback"),
    )


DEMO_OFFICE = "DEMO-1"


def seed_office(offices: Offices, people: SqlPersonStore) -> str:
    """One demo counter office in Tehran with the demo citizen as its operator (again: no change)."""
    if offices.get(DEMO_OFFICE) is None:
        offices.add(DEMO_OFFICE, name_fa="دفتر پیشخوان نمونه تهران", name_en="Demo counter office, Tehran",
                    province="Tehran")
    person = people.get_by_national_code(DEMO_NATIONAL_CODE)
    if person is not None and offices.operator_of(person.id) is None:
        offices.add_operator(DEMO_OFFICE, person.id)
    return DEMO_OFFICE
