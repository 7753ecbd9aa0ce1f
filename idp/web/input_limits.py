"""How much input each request parameter may carry: the one table that decides it.

Every url-encoded query or body we read passes `check` (through `idp.oauth.request`), so no value
above its limit is ever stored (sign-in transactions live for half an hour in the ephemeral store),
echoed to a page or a client, or handed to Authlib. A value over its limit is `invalid_request` with
a description naming the parameter, never a silent truncation. Names not in the table are ignored
by every endpoint; they are bounded only by `MAX_BODY` and `MAX_PARAMETERS`, and the authorization
endpoint drops them before anything is stored (RFC 6749 §3.1: unrecognized parameters are ignored).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from idp.errors import InvalidRequestError

# Any query string or form body, in bytes, and its number of parameters.
MAX_BODY = 64 * 1024
MAX_PARAMETERS = 100
# The authorization request as kept while the person signs in: the parameters we use, in characters.
# Real requests are well under 2 KiB; 8 KiB is also what many proxies allow in a URL.
MAX_AUTHORIZATION_REQUEST = 8 * 1024


@dataclass(frozen=True, slots=True)
class Limit:
    max_chars: int
    # A value that must also match this (checked when not empty), e.g. RFC 7636's code_verifier.
    pattern: re.Pattern[str] | None = None
    rule: str = ""
    # May appear more than once (RFC 8707 resource, checkbox lists); anything else only once
    # (RFC 6749 §3.1, §3.2: parameters MUST NOT be included more than once).
    repeatable: bool = False


# RFC 7636 §4.1: 43 to 128 unreserved characters. Checked before the code is looked up, so a
# malformed verifier does not use up the authorization code.
_CODE_VERIFIER = Limit(128, re.compile(r"[A-Za-z0-9._~-]{43,128}"),
                       "must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~")

LIMITS: dict[str, Limit] = {
    # Authorization request: RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3.
    "response_type": Limit(64),
    "client_id": Limit(128),  # clients.models allows 3-128 characters
    "redirect_uri": Limit(2048),  # registered URIs are at most 2000 characters
    "scope": Limit(2048),
    "state": Limit(2048),  # opaque; some frameworks pack their own data into it
    "nonce": Limit(512),
    "response_mode": Limit(32),
    "prompt": Limit(64),
    "max_age": Limit(10),
    "display": Limit(16),
    "ui_locales": Limit(256),
    "claims_locales": Limit(256),
    "id_token_hint": Limit(8192),  # our own ID tokens: 1 to 3 KiB with verified_claims and legal_entity
    "login_hint": Limit(256),
    "acr_values": Limit(512),
    "claims": Limit(4096),
    "code_challenge": Limit(128),
    "code_challenge_method": Limit(16),
    # RFC 9449 §10: the SHA-256 thumbprint (RFC 7638) of the DPoP key the code is to be bound to.
    "dpop_jkt": Limit(43, re.compile(r"[A-Za-z0-9_-]{43}"),
                      "must be a base64url SHA-256 JWK thumbprint (43 characters)"),
    # RFC 9101 request object: the parameters above as signed JSON (base64url: 4/3 of the 8 KiB
    # kept while the person signs in, a header and an RSA-4096 signature fit well within 16 KiB).
    "request": Limit(16 * 1024),
    # RFC 9126: only our own urn:ietf:params:oauth:request_uri:<43 characters> (`idp.oauth.pushed`).
    "request_uri": Limit(512),
    # Refused at the authorization endpoint (`idp.oauth.checks.check_input`); its value is never read.
    "registration": Limit(MAX_BODY),
    # Token, introspection and revocation: RFC 6749 §4.1.3, §6, RFC 7662 §2.1, RFC 7009 §2.1, RFC 7523.
    "grant_type": Limit(64),
    "code": Limit(128),  # also the one-time codes of the sign-in forms
    "code_verifier": _CODE_VERIFIER,
    "refresh_token": Limit(128),
    "token": Limit(8192),
    "token_type_hint": Limit(32),
    "client_secret": Limit(256),
    "client_assertion": Limit(8192),
    "client_assertion_type": Limit(128),
    "resource": Limit(2048, repeatable=True),
    # RP-initiated logout.
    "post_logout_redirect_uri": Limit(2048),
    "logout_hint": Limit(256),
    # Our own forms: sign-in, step-up, consent, registration, recovery, account pages.
    "csrf_token": Limit(128),
    "tx": Limit(64),
    "id": Limit(64),
    "national_code": Limit(32),
    "birthdate": Limit(32),
    "mobile": Limit(32),
    "password": Limit(1024),  # as the forms' maxlength
    "current_password": Limit(1024),
    "new_password": Limit(1024),
    "method": Limit(32),
    "resend": Limit(16),
    "handle": Limit(64),
    "credential": Limit(16384),  # a WebAuthn response, attestation included
    "decision": Limit(16),
    "choice": Limit(64),
    "confirm": Limit(16),
    "sid": Limit(64),
    "mandate": Limit(64),
    "entity": Limit(300),
    "role": Limit(300),
    "until": Limit(300),
    "services": Limit(300),
    "power": Limit(64, repeatable=True),
}

# What the authorization endpoint reads; everything else in an authorization request is dropped.
AUTHORIZATION_PARAMETERS = frozenset({
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "response_mode", "prompt",
    "max_age", "display", "ui_locales", "claims_locales", "id_token_hint", "login_hint", "acr_values", "claims",
    "code_challenge", "code_challenge_method", "request", "request_uri", "registration", "dpop_jkt",
})


def violations(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Each parameter that breaks its limit, with a description naming it, in the order received."""
    counts = Counter(key for key, _ in pairs)
    found: dict[str, str] = {}
    for key, value in pairs:
        limit = LIMITS.get(key)
        if limit is None or key in found:
            continue
        if counts[key] > 1 and not limit.repeatable:
            found[key] = f"The {key} parameter must not be included more than once."
        elif len(value) > limit.max_chars:
            found[key] = f"The {key} parameter is too long (at most {limit.max_chars} characters)."
        elif limit.pattern is not None and value and not limit.pattern.fullmatch(value):
            found[key] = f"The {key} parameter {limit.rule}."
    return found


def check(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`pairs` if every parameter is within its limit, else `invalid_request` naming the first one."""
    for description in violations(pairs).values():
        raise InvalidRequestError(description)
    return pairs
