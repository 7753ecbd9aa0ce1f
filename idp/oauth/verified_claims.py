"""OpenID Connect for Identity Assurance 1.0: stating how a person's identity was proven.

`acr` speaks of the whole level; an agency that needs the proofing itself asks for `verified_claims`
in the `claims` parameter and gets the trust framework, the method (registry or in person), its
time and evidence, with the claims that proofing verified.
https://openid.net/specs/openid-connect-4-identity-assurance-1_0.html
"""

from __future__ import annotations

from collections.abc import Mapping

from levels.people import Person
from levels.proofing import ProofingRecord

# Claims our proofing methods verify (names and birth date come from the civil registry).
VERIFIABLE = ("given_name", "family_name", "birthdate")
_METHOD_PROCESS = {"registry": "electronic_record_check", "in_person": "in_person_check"}


def requested(member: Mapping[str, object] | None) -> list[str] | None:
    """The verified claim names asked for in one member (`id_token`/`userinfo`) of the claims
    parameter, or None if `verified_claims` was not asked for there."""
    if not member or "verified_claims" not in member:
        return None
    spec = member["verified_claims"]
    specs = spec if isinstance(spec, list) else [spec]
    names: list[str] = []
    for one in specs:
        claims = one.get("claims") if isinstance(one, dict) else None
        if isinstance(claims, dict):
            names.extend(n for n in claims if n in VERIFIABLE and n not in names)
    return names or list(VERIFIABLE)


def verified_claims(person: Person, record: ProofingRecord | None, names: list[str]) -> dict[str, object] | None:
    """The `verified_claims` element, or None when the identity was only self-asserted (P1)."""
    if record is None or person.proofing_tier < 2:
        return None
    values: dict[str, object] = {
        "given_name": person.given_name, "family_name": person.family_name,
        "birthdate": person.birthdate.isoformat() if person.birthdate else None,
    }
    return {
        "verification": {
            "trust_framework": record.trust_framework,
            "time": record.verified_at.isoformat().replace("+00:00", "Z"),
            "verification_process": _METHOD_PROCESS.get(record.method, record.method),
            "evidence": [dict(record.evidence)],
        },
        "claims": {n: values[n] for n in names if values.get(n) is not None},
    }
