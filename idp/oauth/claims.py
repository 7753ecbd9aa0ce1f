"""Which person claims each scope releases (OIDC Core §5.4, plus our `national_code` scope)."""

from __future__ import annotations

from levels.people import Person

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "birthdate"),
    "phone": ("phone_number", "phone_number_verified"),
    "national_code": ("national_code",),
}
# `legal_entity` asks for the entity chooser after sign-in and releases the `legal_entity` claim.
SUPPORTED_SCOPES = ("openid", "offline_access", *SCOPE_CLAIMS, "legal_entity")


def person_claims(person: Person, scopes: set[str]) -> dict[str, object]:
    claims: dict[str, object] = {}
    if "profile" in scopes:
        claims["given_name"] = person.given_name
        claims["family_name"] = person.family_name
        claims["name"] = f"{person.given_name} {person.family_name}".strip()
        if person.birthdate:
            claims["birthdate"] = person.birthdate.isoformat()
    if "phone" in scopes and person.mobile and person.mobile_verified:
        claims["phone_number"] = person.mobile
        claims["phone_number_verified"] = True
    if "national_code" in scopes:
        claims["national_code"] = person.national_code
    return claims


def supported_claims() -> list[str]:
    standard = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
                "legal_entity"]
    return standard + [c for claims in SCOPE_CLAIMS.values() for c in claims]
