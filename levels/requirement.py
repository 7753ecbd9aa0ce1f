"""The level (and authentication age) an authorization needs: one pure rule, no I/O.

The requirement is the maximum of the client's minimum level, each requested service's minimum,
`acr_values`, an essential `acr` in the claims parameter and the minimum level of the entity the
person acts for. `acr_values` and the essential `acr` each list acceptable levels, so the lowest one
named counts. We enforce it rather than treat it as a hint: an agency asking for level 2 must never
receive a level-1 token.

The authentication age is the smallest of the requested services' maximum ages and OIDC `max_age`;
factors proven since the authorization started always count as fresh (even for `max_age=0`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from levels.errors import LevelsError
from levels.level import Level
from levels.policy import Policy

__all__ = ["NoSupportedAcr", "Requirement", "ServiceNeed", "essential_acr", "required"]


@dataclass(frozen=True, slots=True)
class Requirement:
    level: Level
    max_age: float | None = None  # seconds: OIDC max_age and the services' maximum authentication age


@dataclass(frozen=True, slots=True)
class ServiceNeed:
    """What one requested service needs: a minimum level, and factors at most `max_auth_age`
    seconds old (None: the level's own maximum age)."""

    min_level: int
    max_auth_age: int | None = None


class NoSupportedAcr(LevelsError, ValueError):
    """Every acr value the request names (in `acr_values` or in the claims parameter) is unknown.

    The web layer answers `invalid_request` with `str(error)` as the description.
    """

    def __init__(self, source: str) -> None:
        super().__init__(f"No acr in {source} is supported; see acr_values_supported.")
        self.source = source


def essential_acr(claims: Mapping[str, Mapping[str, object]]) -> list[str]:
    """acr values asked for as essential (`value` or `values`) in an OIDC claims parameter."""
    wanted: list[str] = []
    for member in claims.values():
        acr = member.get("acr")
        if isinstance(acr, dict) and acr.get("essential") is True:
            if isinstance(acr.get("value"), str):
                wanted.append(acr["value"])
            values = acr.get("values")
            if isinstance(values, list):
                wanted.extend(v for v in values if isinstance(v, str))
    return wanted


def required(
    policy: Policy,
    *,
    client_min_level: int,
    services: Iterable[ServiceNeed] = (),
    acr_values: Sequence[str] = (),
    essential: Sequence[str] = (),
    entity_min_level: int | None = None,
    max_age: int | None = None,
    elapsed: float | None = None,
) -> Requirement:
    """The requirement of one authorization.

    `services` are the requested services only; `essential` the values of `essential_acr`;
    `entity_min_level` the minimum of the entity the person acts for (None when acting for
    themselves); `elapsed` the seconds since the authorization started (None on its first request).
    Raises `NoSupportedAcr` when `acr_values`, or the essential acr, names no level we know.
    """
    level = Level(client_min_level)
    ages: list[float] = []
    for service in services:
        level = max(level, Level(service.min_level))
        if service.max_auth_age is not None:
            ages.append(service.max_auth_age)
    for source, values in (("acr_values", acr_values), ("claims", essential)):
        if values:
            named = [lvl for lvl in (policy.level_for_acr(v) for v in values) if lvl is not None]
            if not named:
                raise NoSupportedAcr(source)
            level = max(level, min(named))
    if max_age is not None:
        ages.append(max_age)
    if entity_min_level is not None:
        level = max(level, Level(entity_min_level))
    age = min(ages) if ages else None
    if age is not None and elapsed is not None:
        # Factors proven during this very authorization count as fresh, even for max_age=0.
        age = max(age, elapsed)
    return Requirement(level, age)
