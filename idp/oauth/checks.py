"""Authorization request rules beyond what Authlib validates: one `check_*` function per rule."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clients.models import Client
from clients.services import Service
from idp.errors import (
    InvalidRequestError,
    OAuth2Error,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from idp.oauth.response import RESPONSE_MODES
from idp.signin.interaction import Requirement
from idp.web.input_limits import MAX_AUTHORIZATION_REQUEST, violations
from levels.level import Level
from levels.policy import Policy

PROMPTS = frozenset({"none", "login", "consent", "select_account"})

# OIDC Core §6 and §7.2.1: parameters we do not support are refused, not silently ignored, so a
# client relying on a signed request object learns that its parameters were not taken from it.
_UNSUPPORTED: tuple[tuple[str, type[OAuth2Error], str], ...] = (
    ("request", RequestNotSupportedError,
     "Request objects are not supported: send the authorization parameters themselves."),
    ("request_uri", RequestURINotSupportedError,
     "request_uri is not supported: send the authorization parameters themselves."),
    ("registration", RegistrationNotSupportedError, "The registration parameter is not supported."),
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An authorization request refused before any of it is used or stored."""

    error: OAuth2Error
    # Parameters not to rely on when answering: never echoed, never used to find the redirect URI.
    untrusted: frozenset[str]


def check_input(pairs: Sequence[tuple[str, str]]) -> Refusal | None:
    """Unsupported parameters, then each parameter's limit (`idp.web.input_limits`), then the total size."""
    found = violations(pairs)
    names = {key for key, _ in pairs}
    unsupported = [(name, error, text) for name, error, text in _UNSUPPORTED if name in names]
    untrusted = frozenset(found) | {name for name, _, _ in unsupported}
    if unsupported:
        _, error, description = unsupported[0]
        return Refusal(error(description), untrusted)
    if found:
        return Refusal(InvalidRequestError(next(iter(found.values()))), untrusted)
    if sum(len(key) + len(value) for key, value in pairs) > MAX_AUTHORIZATION_REQUEST:
        return Refusal(InvalidRequestError(
            f"The authorization request is too large (at most {MAX_AUTHORIZATION_REQUEST} characters)."),
            untrusted)
    return None


def check_response_mode(data: Mapping[str, str]) -> str:
    mode = data.get("response_mode") or "query"
    if mode not in RESPONSE_MODES:
        raise InvalidRequestError(f"response_mode must be one of: {', '.join(RESPONSE_MODES)}.")
    return mode


def check_prompt(data: Mapping[str, str]) -> frozenset[str]:
    """OIDC Core §3.1.2.1: space-separated values; `none` may not be combined with others."""
    prompts = frozenset((data.get("prompt") or "").split())
    unknown = prompts - PROMPTS
    if unknown:
        raise InvalidRequestError(f"Unsupported prompt value: {sorted(unknown)[0]}.")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("prompt=none cannot be combined with other prompt values.")
    return prompts


def check_max_age(data: Mapping[str, str]) -> int | None:
    raw = data.get("max_age")
    if raw is None or raw == "":
        return None
    # isdigit() alone accepts characters int() refuses, such as superscript digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise InvalidRequestError("max_age must be a non-negative whole number of seconds.")
    return int(raw)


def check_claims(data: Mapping[str, str]) -> dict[str, dict[str, object]]:
    """OIDC Core §5.5 `claims` parameter: a JSON object with optional `id_token` and `userinfo` members."""
    raw = data.get("claims")
    if not raw:
        return {}
    try:
        claims = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays or objects
        raise InvalidRequestError("The claims parameter must be a JSON object.") from None
    if not isinstance(claims, dict) or any(
        k in claims and not isinstance(claims[k], dict) for k in ("id_token", "userinfo")
    ):
        raise InvalidRequestError("The claims parameter must be a JSON object of JSON objects.")
    return {k: claims[k] for k in ("id_token", "userinfo") if k in claims}


def _acr_request(claims: Mapping[str, Mapping[str, object]]) -> list[str]:
    """acr values asked for as essential in the claims parameter."""
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


def check_acr_values(
    policy: Policy, client: Client, data: Mapping[str, str], claims: Mapping[str, Mapping[str, object]],
    services: Sequence[Service] = (),
) -> Requirement:
    """The level (and authentication age) this authorization needs.

    The maximum of the client's minimum, each requested service's minimum, `acr_values` and an
    essential `acr` in the claims parameter. Each of the last two lists acceptable levels, so the
    lowest one named counts. We enforce it rather than treat it as a hint: an agency asking for
    level 2 must never receive a level-1 token.
    """
    required = Level(client.min_level)
    scopes = set((data.get("scope") or "").split())
    ages = [s.max_auth_age for s in services if s.scope in scopes and s.max_auth_age is not None]
    for service in services:
        if service.scope in scopes:
            required = max(required, Level(service.min_level))
    for source, values in (("acr_values", (data.get("acr_values") or "").split()), ("claims", _acr_request(claims))):
        if values:
            named = [lvl for lvl in (policy.level_for_acr(v) for v in values) if lvl is not None]
            if not named:
                raise InvalidRequestError(f"No acr in {source} is supported; see acr_values_supported.")
            required = max(required, min(named))
    max_age = check_max_age(data)
    if max_age is not None:
        ages.append(max_age)
    return Requirement(required, min(ages) if ages else None)
