"""Authorization request rules beyond what Authlib validates: one `check_*` function per rule."""

from __future__ import annotations

from collections.abc import Mapping

from clients.models import Client
from idp.authorization_response import RESPONSE_MODES
from idp.errors import InvalidRequestError
from levels.level import Level, level_for_acr

PROMPTS = frozenset({"none", "login", "consent", "select_account"})


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
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidRequestError("max_age must be a non-negative whole number of seconds.")
    return int(raw)


def check_acr_values(client: Client, data: Mapping[str, str]) -> Level:
    """The level this authorization needs: the client's minimum, raised by `acr_values`.

    `acr_values` lists acceptable levels; the lowest one named is what must be reached. We enforce it
    rather than treat it as a hint: an agency asking for level 2 must never receive a level-1 token.
    """
    required = Level(client.min_level)
    raw = (data.get("acr_values") or "").split()
    if raw:
        named = [lvl for lvl in (level_for_acr(v) for v in raw) if lvl is not None]
        if not named:
            raise InvalidRequestError("None of the acr_values is supported; see acr_values_supported.")
        required = max(required, min(named))
    return required
