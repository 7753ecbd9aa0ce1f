"""Authorization request rules beyond what Authlib validates: one `check_*` function per rule.

The level a request needs is `levels.requirement.required`, asked by `idp.signin.interaction`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from idp.errors import (
    InvalidRequestError,
    OAuth2Error,
    RegistrationNotSupportedError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from idp.oauth.claims import supported_claims
from idp.oauth.response import RESPONSE_MODES
from idp.web.input_limits import MAX_AUTHORIZATION_REQUEST, violations

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# Claims whose request members we read (`verified_claims` has its own grammar, read by
# `idp.oauth.verified_claims`); others are ignored, whatever their shape (OIDC Core §5.5).
_CHECKED_CLAIMS = frozenset(supported_claims()) - {"verified_claims"}

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
    members = {k: claims[k] for k in ("id_token", "userinfo") if k in claims}
    for target, member in members.items():
        for name, spec in member.items():
            if name in _CHECKED_CLAIMS:
                _check_claim_request(f"{target}.{name}", spec)
    return members


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _check_claim_request(where: str, spec: object) -> None:
    """OIDC Core §5.5.1: null, or an object with optional `essential` (boolean), `value` and
    `values` (an array); we hold `value` and the items of `values` to JSON strings, numbers and
    booleans, the only kinds our claims have."""
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise InvalidRequestError(f"claims: {where} must be null or a JSON object.")
    if "essential" in spec and not isinstance(spec["essential"], bool):
        raise InvalidRequestError(f"claims: {where}.essential must be true or false.")
    if "value" in spec and not _is_scalar(spec["value"]):
        raise InvalidRequestError(f"claims: {where}.value must be a string, number or boolean.")
    if "values" in spec and not (
            isinstance(spec["values"], list) and all(_is_scalar(v) for v in spec["values"])):
        raise InvalidRequestError(f"claims: {where}.values must be an array of strings, numbers or booleans.")
