"""Which person claims each scope releases (`idp.oauth.claims`, OIDC Core §5.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from idp.oauth.claims import (
    SCOPE_CLAIMS,
    SUPPORTED_SCOPES,
    filtered,
    person_claims,
    released,
    requested_person_claims,
    supported_claims,
)
from levels.iranian_input import make_national_code
from levels.people import Person, new_person


def _person(**fields: object) -> Person:
    fields.setdefault("birthdate", date(1990, 3, 21))
    fields.setdefault("mobile", "+989121234567")
    fields.setdefault("mobile_verified", True)
    return new_person(make_national_code("001234567"), "Sara", "Ahmadi", now=datetime.now(UTC),
                      **fields)  # type: ignore[arg-type]


def test_openid_alone_releases_no_person_claim() -> None:
    assert person_claims(_person(), {"openid"}) == {}
    assert person_claims(_person(), {"openid", "offline_access", "legal_entity"}) == {}


def test_profile_releases_the_names_and_the_birth_date() -> None:
    assert person_claims(_person(), {"openid", "profile"}) == {
        "given_name": "Sara", "family_name": "Ahmadi", "name": "Sara Ahmadi", "birthdate": "1990-03-21"}
    assert "birthdate" not in person_claims(_person(birthdate=None), {"profile"})


def test_phone_releases_only_a_verified_mobile() -> None:
    assert person_claims(_person(), {"phone"}) == {"phone_number": "+989121234567", "phone_number_verified": True}
    assert person_claims(_person(mobile_verified=False), {"phone"}) == {}
    assert person_claims(_person(mobile=None, mobile_verified=False), {"phone"}) == {}


def test_the_national_code_only_with_its_own_scope() -> None:
    person = _person()
    assert "national_code" not in person_claims(person, {"openid", "profile", "phone"})
    assert person_claims(person, {"national_code"}) == {"national_code": person.national_code}


def test_what_a_scope_releases_is_what_discovery_declares() -> None:
    everything = person_claims(_person(), set(SUPPORTED_SCOPES))
    for scope, names in SCOPE_CLAIMS.items():
        assert set(person_claims(_person(), {scope})) == set(names), scope
    assert set(everything) <= set(supported_claims())
    assert {"sub", "acr", "amr", "auth_time", "nonce", "sid", "legal_entity"} <= set(supported_claims())
    assert len(supported_claims()) == len(set(supported_claims()))


def test_a_claims_request_keeps_person_claims_and_their_values() -> None:
    member = {"name": None, "birthdate": {"essential": True}, "phone_number_verified": {"value": True},
              "given_name": {"values": ["Sara"]}, "acr": {"essential": True}, "shoe_size": None}
    assert requested_person_claims(member) == {
        "name": None, "birthdate": None, "phone_number_verified": {"value": True}, "given_name": {"values": ["Sara"]}}
    assert requested_person_claims({"acr": None}) is None
    assert requested_person_claims(None) is None


def test_released_claims_need_their_scope_the_value_and_the_person_having_them() -> None:
    person = _person(birthdate=None)
    ask = {"name": None, "birthdate": None, "national_code": None, "phone_number_verified": {"value": 1},
           "phone_number": {"values": ["+989000000000", "+989121234567"]}}
    assert released(person, {"openid", "profile", "phone"}, ask) == {
        "name": "Sara Ahmadi", "phone_number": "+989121234567"}  # True is not 1; no birth date; no scope
    assert released(person, {"openid"}, ask) == {}


def test_userinfo_withholds_only_claims_asked_for_with_another_value() -> None:
    claims = person_claims(_person(), {"profile", "phone"})
    kept = filtered(claims, {"phone_number_verified": {"value": False}, "name": None})
    assert set(claims) - set(kept) == {"phone_number_verified"}
    assert filtered(claims, None) == claims
