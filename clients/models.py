"""A registered OAuth/OIDC client and the one validator of its metadata.

`Client` is duck-typed to Authlib's `ClientMixin`, so Authlib's `AuthorizationServer` uses it
directly. `check_client_metadata` is the only place client metadata rules live: the registry (and so
the admin CLI and any API) calls it before anything is stored.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from clients.errors import InvalidField
from clients.secrets import hash_secret

AUTH_METHODS: frozenset[str] = frozenset(
    {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
)
SECRET_AUTH_METHODS: frozenset[str] = frozenset({"client_secret_basic", "client_secret_post"})
GRANT_TYPES: frozenset[str] = frozenset({"authorization_code", "refresh_token", "client_credentials"})
ID_TOKEN_ALGS: frozenset[str] = frozenset({"ES256", "RS256"})
MIN_LEVELS = range(1, 4)
# OIDC Core §8: `public` (one `sub` for every client) or `pairwise` (one per sector).
SUBJECT_TYPES: frozenset[str] = frozenset({"public", "pairwise"})
# Security profiles a client may be held to; `fapi2` is the FAPI 2.0 Security Profile
# (https://openid.net/specs/fapi-security-profile-2_0-final.html).
PROFILES: frozenset[str] = frozenset({"fapi2"})
LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})

_CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{3,128}")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_MAX_URI = 2000
_MAX_CONTACTS = 10
# An address a person can write to; whether it exists is the agency's business.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[^@\s<>\"',;]+@{_LABEL}(?:\.{_LABEL})+")
_MAX_NAME = 200


def is_client_id(value: object) -> bool:
    """Whether `value` has the shape every registered client_id has."""
    return isinstance(value, str) and _CLIENT_ID.fullmatch(value) is not None


class InvalidClientMetadata(InvalidField):
    """Client metadata breaks a registration rule."""


@dataclass(frozen=True, slots=True)
class Client:
    """A relying party (agency portal) or back end registered with the IdP.

    Only `secret_hash` is ever held; the plaintext secret exists once, when the registry issues it.
    """

    client_id: str
    name: str
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...] = ()
    jwks: Mapping[str, object] | None = None
    id_token_signed_response_alg: str = "ES256"
    backchannel_logout_uri: str | None = None
    # OIDC Back-Channel Logout 1.0 §2.2: the logout token carries `sid` when this is true.
    backchannel_logout_session_required: bool = True
    # OIDC Front-Channel Logout 1.0 §2: rendered in an iframe on logout, with `iss` and `sid` when
    # the session flag is true.
    frontchannel_logout_uri: str | None = None
    frontchannel_logout_session_required: bool = True
    # Third-party services ask the person before receiving their data; government portals are
    # registered as trusted (False) and skip the consent page.
    require_consent: bool = False
    min_level: int = 1
    # OIDC Core §8: with `pairwise`, the client sees a `sub` of its own sector (`clients.subjects`).
    subject_type: str = "public"
    # OIDC Core §8.1: a https URL of a JSON list of the client's redirect URIs; its host is the
    # sector. Without it the sector is the one host of the redirect URIs.
    sector_identifier_uri: str | None = None
    # RFC 9126 §6: authorization requests only through a pushed request (`/par`).
    require_pushed_authorization_requests: bool = False
    # RFC 9449 §5.2: access tokens only when bound to a DPoP key.
    dpop_bound_access_tokens: bool = False
    # A security profile the client is held to (`PROFILES`), or None.
    profile: str | None = None
    # What people read about the client (OIDC Dynamic Client Registration §2): its name in each
    # language (`name` when a language has none), its logo, home page, privacy policy and terms.
    name_fa: str | None = None
    name_en: str | None = None
    logo_uri: str | None = None
    client_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    # Who answers for the client at its agency (OIDC Dynamic Client Registration §2): e-mail addresses.
    contacts: tuple[str, ...] = ()
    enabled: bool = True
    secret_hash: str | None = None
    # After `rotate-secret --grace`: the replaced secret's hash, still accepted until this moment, so
    # a portal's instances can move to the new secret one by one.
    previous_secret_hash: str | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def display_name(self, locale: str) -> str:
        """The client's name as a page in `locale` shows it."""
        return localized_name(locale, fa=self.name_fa, en=self.name_en) or self.name

    @property
    def is_public(self) -> bool:
        """True for clients that cannot keep a secret (auth method `none`)."""
        return self.token_endpoint_auth_method == "none"

    @property
    def is_fapi2(self) -> bool:
        """True for clients held to the FAPI 2.0 Security Profile."""
        return self.profile == "fapi2"

    @property
    def uses_secret(self) -> bool:
        """True if the client authenticates with a shared secret (basic or post)."""
        return self.token_endpoint_auth_method in SECRET_AUTH_METHODS

    # Authlib ClientMixin

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The redirect URI to use when a request names none: only if exactly one is registered."""
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        """The requested scopes that are also registered, space-joined in the requested order."""
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(dict.fromkeys(s for s in scope.split() if s in allowed))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against the registered list (no normalisation, no prefix match)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """True only if the client is enabled, has a secret, and `client_secret` hashes to it (or to
        the secret it replaced, during the grace period of a rotation)."""
        if not self.enabled or not self.secret_hash or not isinstance(client_secret, str):
            return False
        given = hash_secret(client_secret)
        if hmac.compare_digest(given, self.secret_hash):
            return True
        expires = self.previous_secret_expires_at
        return (self.previous_secret_hash is not None and expires is not None and datetime.now(UTC) < expires
                and hmac.compare_digest(given, self.previous_secret_hash))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The token, introspection and revocation endpoints all accept only the registered method."""
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        """Only the code flow, and only for clients registered for `authorization_code`."""
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def localized_name(locale: str, *, fa: str | None, en: str | None) -> str | None:
    """The name for a page in `locale` from a Persian and an English name: the page's language
    first, else the other one (a name people can read beats a code), else None."""
    first, second = (fa, en) if locale == "fa" else (en, fa)
    return first or second or None


def check_display_name(field: str, name: str | None, error: type[InvalidField]) -> None:
    """A display name, if given, is non-blank text of at most 200 characters with no control characters."""
    if name is None:
        return
    if not isinstance(name, str) or not name.strip():
        raise error(field, "must not be empty")
    if len(name) > _MAX_NAME:
        raise error(field, f"must be at most {_MAX_NAME} characters")
    if any(ord(c) < 0x20 or c == "\x7f" for c in name):
        raise error(field, "must not contain control characters")


def check_client_metadata(client: Client) -> None:
    """Raise `InvalidClientMetadata` naming the first field of `client` that breaks a rule.

    The rules: a safe client_id; known auth methods, grant types and algorithms; redirect,
    post-logout, back-channel and front-channel logout URIs that are absolute https (http only on
    loopback) with no fragment (which Front-Channel Logout 1.0 §2 forbids too) or wildcard; boolean
    flags that are real booleans; public clients never use client_credentials; authorization_code needs a
    redirect URI; refresh_token needs authorization_code; private_key_jwt needs public keys.
    """
    if not is_client_id(client.client_id):
        raise InvalidClientMetadata("client_id", "must be 3-128 characters from A-Z a-z 0-9 . _ -")
    if not client.name or not client.name.strip():
        raise InvalidClientMetadata("name", "must not be empty")
    if len(client.name) > _MAX_NAME:
        raise InvalidClientMetadata("name", f"must be at most {_MAX_NAME} characters")
    check_display_name("name_fa", client.name_fa, InvalidClientMetadata)
    check_display_name("name_en", client.name_en, InvalidClientMetadata)
    _check_contacts(client.contacts)
    for field in ("logo_uri", "client_uri", "policy_uri", "tos_uri"):
        uri = getattr(client, field)
        if uri is not None:
            _check_uri(field, uri)
    method = client.token_endpoint_auth_method
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(
            "token_endpoint_auth_method", f"{method!r} is not one of {', '.join(sorted(AUTH_METHODS))}"
        )
    _check_grant_types(client)
    for uri in client.redirect_uris:
        _check_uri("redirect_uris", uri)
    for uri in client.post_logout_redirect_uris:
        _check_uri("post_logout_redirect_uris", uri)
    if client.backchannel_logout_uri is not None:
        _check_uri("backchannel_logout_uri", client.backchannel_logout_uri)
    if client.frontchannel_logout_uri is not None:
        _check_uri("frontchannel_logout_uri", client.frontchannel_logout_uri)
    for flag in ("backchannel_logout_session_required", "frontchannel_logout_session_required", "require_consent",
                 "require_pushed_authorization_requests", "dpop_bound_access_tokens"):
        # A stray string ("false") would be truthy and silently mean the opposite.
        if not isinstance(getattr(client, flag), bool):
            raise InvalidClientMetadata(flag, "must be true or false")
    for scope in client.scopes:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise InvalidClientMetadata("scopes", f"{scope!r} is not a valid scope token")
    for audience in client.audiences:
        if not isinstance(audience, str) or not audience or any(c.isspace() for c in audience):
            raise InvalidClientMetadata("audiences", f"{audience!r} must be non-empty with no spaces")
        if len(audience) > _MAX_URI:
            raise InvalidClientMetadata("audiences", f"must be at most {_MAX_URI} characters")
    if method == "private_key_jwt" and client.jwks is None:
        raise InvalidClientMetadata("jwks", "private_key_jwt requires a JWKS with at least one public key")
    if client.jwks is not None:
        _check_jwks(client.jwks)
    if client.id_token_signed_response_alg not in ID_TOKEN_ALGS:
        raise InvalidClientMetadata(
            "id_token_signed_response_alg",
            f"{client.id_token_signed_response_alg!r} is not one of {', '.join(sorted(ID_TOKEN_ALGS))}",
        )
    if isinstance(client.min_level, bool) or not isinstance(client.min_level, int) or (
        client.min_level not in MIN_LEVELS
    ):
        raise InvalidClientMetadata("min_level", f"{client.min_level!r} is not 1, 2 or 3")
    _check_subject(client)
    _check_profile(client)


def _check_contacts(contacts: tuple[str, ...]) -> None:
    if len(contacts) > _MAX_CONTACTS:
        raise InvalidClientMetadata("contacts", f"at most {_MAX_CONTACTS} addresses")
    for contact in contacts:
        if not isinstance(contact, str) or len(contact) > 254 or not _EMAIL.fullmatch(contact):
            raise InvalidClientMetadata("contacts", f"{contact!r} is not an e-mail address")


def sector_hosts(client: Client) -> set[str]:
    """The hosts of the client's redirect URIs (OIDC Core §8.1: without a sector identifier URI,
    the sector is the host when there is exactly one)."""
    return {urlsplit(uri).hostname or "" for uri in client.redirect_uris}


def _check_subject(client: Client) -> None:
    if client.subject_type not in SUBJECT_TYPES:
        raise InvalidClientMetadata("subject_type", f"{client.subject_type!r} is not public or pairwise")
    if client.sector_identifier_uri is not None:
        _check_uri("sector_identifier_uri", client.sector_identifier_uri)
        if urlsplit(client.sector_identifier_uri).scheme != "https":
            raise InvalidClientMetadata("sector_identifier_uri", "must use https (OIDC Core section 8.1)")
    if client.subject_type != "pairwise" or client.sector_identifier_uri is not None:
        return
    hosts = sector_hosts(client)
    if not hosts:
        raise InvalidClientMetadata(
            "sector_identifier_uri", "a pairwise client without redirect URIs needs a sector identifier URI")
    if len(hosts) > 1:
        raise InvalidClientMetadata(
            "sector_identifier_uri",
            f"redirect URIs on several hosts ({', '.join(sorted(hosts))}) need a sector identifier URI listing them")


def _check_profile(client: Client) -> None:
    """FAPI 2.0 Security Profile §5.3.2.1, §5.3.2.2 and §5.3.3: confidential clients authenticating
    with private_key_jwt, pushed requests, sender-constrained (here DPoP) tokens, and authorization
    responses never sent over an unencrypted connection (https redirect URIs; the loopback exception
    is for native apps, which cannot be the confidential clients the profile requires)."""
    if client.profile is None:
        return
    if client.profile not in PROFILES:
        raise InvalidClientMetadata("profile", f"{client.profile!r} is not one of {', '.join(sorted(PROFILES))}")
    if client.token_endpoint_auth_method != "private_key_jwt":
        raise InvalidClientMetadata("token_endpoint_auth_method", "the fapi2 profile requires private_key_jwt")
    if not client.require_pushed_authorization_requests:
        raise InvalidClientMetadata(
            "require_pushed_authorization_requests", "the fapi2 profile requires pushed authorization requests")
    if not client.dpop_bound_access_tokens:
        raise InvalidClientMetadata("dpop_bound_access_tokens", "the fapi2 profile requires DPoP-bound tokens")
    for uri in client.redirect_uris:
        if urlsplit(uri).scheme != "https":
            raise InvalidClientMetadata("redirect_uris", f"{uri!r} must use https: the fapi2 profile allows no http")


def _check_grant_types(client: Client) -> None:
    grants = client.grant_types
    if not grants:
        raise InvalidClientMetadata("grant_types", "at least one grant type is required")
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        raise InvalidClientMetadata(
            "grant_types", f"{unknown[0]!r} is not one of {', '.join(sorted(GRANT_TYPES))}"
        )
    if client.is_public and "client_credentials" in grants:
        raise InvalidClientMetadata(
            "grant_types", "a public client (auth method none) cannot use client_credentials"
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidClientMetadata("grant_types", "refresh_token requires authorization_code")
    if "authorization_code" in grants and not client.redirect_uris:
        raise InvalidClientMetadata("redirect_uris", "authorization_code requires at least one redirect URI")


def _check_uri(field: str, uri: str) -> None:
    if not isinstance(uri, str) or not uri:
        raise InvalidClientMetadata(field, "must be a non-empty URI")
    if len(uri) > _MAX_URI:
        raise InvalidClientMetadata(field, f"must be at most {_MAX_URI} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in uri):
        raise InvalidClientMetadata(field, f"{uri!r} must not contain whitespace or control characters")
    if "*" in uri:
        raise InvalidClientMetadata(field, f"{uri!r} must not contain wildcards")
    if "#" in uri:
        raise InvalidClientMetadata(field, f"{uri!r} must not contain a fragment")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidClientMetadata(field, f"{uri!r} is not a valid URI") from None
    if not parts.scheme or not parts.netloc or not host:
        raise InvalidClientMetadata(field, f"{uri!r} must be an absolute URI with a host")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return
    raise InvalidClientMetadata(
        field, f"{uri!r} must use https (http only for 127.0.0.1, localhost or [::1])"
    )


def _check_jwks(jwks: Mapping[str, object]) -> None:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidClientMetadata("jwks", 'must be a JWK Set: {"keys": [...]} with at least one key')
    try:
        key_set = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClientMetadata("jwks", f"cannot be imported: {exc}") from None
    for key in key_set.keys:
        if key.key_type == "oct":
            raise InvalidClientMetadata("jwks", "symmetric (oct) keys are not allowed; register public keys")
        if key.is_private:
            raise InvalidClientMetadata("jwks", "contains private key material; register only public keys")


def plain_fields(client: Client) -> dict[str, object]:
    """The client's fields as plain JSON-compatible values (lists and dicts), timestamps and the
    secret hash left out: the shape both the database row and the CLI's JSON view build on."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "grant_types": list(client.grant_types),
        "scopes": list(client.scopes),
        "audiences": list(client.audiences),
        "jwks": dict(client.jwks) if client.jwks is not None else None,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "require_consent": client.require_consent,
        "min_level": client.min_level,
        "subject_type": client.subject_type,
        "sector_identifier_uri": client.sector_identifier_uri,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "profile": client.profile,
        "name_fa": client.name_fa,
        "name_en": client.name_en,
        "logo_uri": client.logo_uri,
        "client_uri": client.client_uri,
        "policy_uri": client.policy_uri,
        "tos_uri": client.tos_uri,
        "contacts": list(client.contacts),
        "enabled": client.enabled,
    }
