"""Authorization request rules beyond what Authlib validates: one `check_*` function per rule.

The level a request needs is `levels.requirement.required`, asked by `idp.signin.interaction`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clients.models import Client
from idp.errors import InvalidRequestError, OAuth2Error, RegistrationNotSupportedError
from idp.oauth.claims import supported_claims
from idp.oauth.response import RESPONSE_MODES
from idp.web.input_limits import MAX_AUTHORIZATION_REQUEST, violations

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# Claims whose request members we read (`verified_claims` has its own grammar, read by
# `idp.oauth.verified_claims`); others are ignored, whatever their shape (OIDC Core §5.5).
_CHECKED_CLAIMS = frozenset(supported_claims()) - {"verified_claims"}

# OIDC Core §7.2.1: parameters we do not support are refused, not silently ignored. (`request` and
# `request_uri` are read by `idp.oauth.authorize`: RFC 9101 request objects, RFC 9126 pushed requests.)
_UNSUPPORTED: tuple[tuple[str, type[OAuth2Error], str], ...] = (
    ("registration", RegistrationNotSupportedError, "The registration parameter is not supported."),
)
# Not counted in the size of the request kept while the person signs in: what is kept is what they
# stand for (the request object's parameters, the pushed request), itself held to the limits.
_STANDS_FOR_OTHERS = frozenset({"request", "request_uri"})


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
    if sum(len(key) + len(value) for key, value in pairs if key not in _STANDS_FOR_OTHERS) > MAX_AUTHORIZATION_REQUEST:
        return Refusal(InvalidRequestError(
            f"The authorization request is too large (at most {MAX_AUTHORIZATION_REQUEST} characters)."),
            untrusted)
    return None


def check_pushed(client: Client, *, pushed: bool, required_everywhere: bool) -> None:
    """RFC 9126 §5 and §6: a client registered with `require_pushed_authorization_requests` (every
    fapi2 client: FAPI 2.0 Security Profile §5.3.2.2), or every client when the provider requires it,
    may only send the request_uri of a pushed request to the authorization endpoint."""
    if pushed or not (required_everywhere or client.require_pushed_authorization_requests):
        return
    raise InvalidRequestError(
        "This client must push its authorization requests to the pushed authorization request endpoint "
        "(RFC 9126) and send only the request_uri it returns.")


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
