"""Which person claims each scope releases (OIDC Core §5.4, plus our `national_code` scope), and
which of them a `claims` request (OIDC Core §5.5) asks for by name."""

from __future__ import annotations

from collections.abc import Mapping

from levels.people import Person

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "given_name", "family_name", "birthdate"),
    "phone": ("phone_number", "phone_number_verified"),
    "national_code": ("national_code",),
}
# `legal_entity` asks for the entity chooser after sign-in and releases the `legal_entity` claim.
SUPPORTED_SCOPES = ("openid", "offline_access", *SCOPE_CLAIMS, "legal_entity")
# Claims about the person a client may ask for by name; each is released only under its scope.
PERSON_CLAIMS: frozenset[str] = frozenset(c for claims in SCOPE_CLAIMS.values() for c in claims)
# Claims about the authentication itself, in every ID token (and `acr`, `amr`, `auth_time` at userinfo).
_TOKEN_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
                 "legal_entity", "verified_claims")

# What a claims request keeps of one claim: None (just the claim), or its `value` / `values`.
ClaimRequest = dict[str, dict[str, object] | None]


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
    """Every claim we can return (discovery's `claims_supported`)."""
    return [*_TOKEN_CLAIMS, *(c for claims in SCOPE_CLAIMS.values() for c in claims)]


def requested_person_claims(member: Mapping[str, object] | None) -> ClaimRequest | None:
    """The person claims one member (`id_token` or `userinfo`) of a checked claims parameter asks
    for by name, with the `value`/`values` each must have; None when it names none. Unknown names
    are ignored (OIDC Core §5.5); `essential` changes nothing here: we return what we may and have."""
    if not member:
        return None
    wanted: ClaimRequest = {}
    for name, spec in member.items():
        if name not in PERSON_CLAIMS:
            continue
        kept = {k: spec[k] for k in ("value", "values") if k in spec} if isinstance(spec, dict) else {}
        wanted[name] = kept or None
    return wanted or None


def _matches(actual: object, spec: Mapping[str, object] | None) -> bool:
    """OIDC Core §5.5.1: a claim asked for with a `value` (or `values`) is returned only with that value."""
    if not spec:
        return True

    def same(expected: object) -> bool:  # True is not 1 here, as in JSON
        return type(expected) is type(actual) and expected == actual

    if "value" in spec and not same(spec["value"]):
        return False
    values = spec.get("values")
    return not isinstance(values, list) or any(same(v) for v in values)


def released(person: Person, scopes: set[str], request: Mapping[str, dict[str, object] | None]) -> dict[str, object]:
    """The requested person claims the granted `scopes` allow and the person has, with the value asked for."""
    available = person_claims(person, scopes)
    return {name: available[name] for name, spec in request.items()
            if name in available and _matches(available[name], spec)}


def filtered(claims: dict[str, object], request: Mapping[str, dict[str, object] | None] | None) -> dict[str, object]:
    """`claims` without those asked for with another value."""
    if not request:
        return claims
    return {name: value for name, value in claims.items() if _matches(value, request.get(name))}


def requested_id_token_claims(person: Person, scope: str, request: ClaimRequest | None) -> dict[str, object]:
    """The person claims asked for in the ID token (`AuthContext.id_token_claims`) that the granted
    `scope` releases."""
    return released(person, set(scope.split()), request) if request else {}
