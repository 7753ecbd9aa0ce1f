"""The admin API's request and response bodies. Responses are the shapes the command line prints
with `--json` (`idp.cli.clients.client_dict`, `idp.cli.people_admin.person_brief`, …), built by those
same functions; the models here describe them for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    # An unknown field is a mistake (a misspelt name), answered with 400 rather than ignored.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClientFields(_In):
    """A client's registration fields; on update, only those sent change (a list replaces the whole list)."""

    token_endpoint_auth_method: str | None = Field(
        None, description="client_secret_basic, client_secret_post, private_key_jwt or none.")
    redirect_uris: list[str] | None = None
    post_logout_redirect_uris: list[str] | None = None
    grant_types: list[str] | None = Field(None, description="authorization_code, refresh_token, client_credentials.")
    scopes: list[str] | None = Field(None, description="Known scopes only; define new ones with `new_scopes`.")
    audiences: list[str] | None = Field(None, description="APIs its access tokens may target (RFC 8707 resources).")
    jwks: dict[str, Any] | None = Field(None, description="Its public JWK Set, for private_key_jwt.")
    id_token_signed_response_alg: str | None = None
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool | None = None
    frontchannel_logout_uri: str | None = None
    frontchannel_logout_session_required: bool | None = None
    require_consent: bool | None = None
    min_level: int | None = Field(None, ge=1, le=3)
    subject_type: str | None = Field(None, description="public or pairwise.")
    sector_identifier_uri: str | None = None
    require_pushed_authorization_requests: bool | None = None
    dpop_bound_access_tokens: bool | None = None
    profile: str | None = Field(None, description="fapi2, or null.")
    name_fa: str | None = None
    name_en: str | None = None
    logo_uri: str | None = None
    client_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    contacts: list[str] | None = Field(None, description="E-mail addresses of who answers for it at the agency.")
    new_scopes: list[str] = Field(
        default_factory=list, description="Scopes defined on purpose (no client has them yet).")


class ClientCreate(ClientFields):
    name: str = Field(..., description="Display name shown to people.")
    client_id: str | None = Field(None, description="Chosen client_id (generated if omitted).")


class ClientUpdate(ClientFields):
    name: str | None = None


class ClientOut(_Out):
    """`idp.cli.clients.client_dict`, field for field and in its order: every field but the secret hash."""

    client_id: str
    name: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scopes: list[str]
    audiences: list[str]
    jwks: dict[str, Any] | None
    id_token_signed_response_alg: str
    backchannel_logout_uri: str | None
    backchannel_logout_session_required: bool
    frontchannel_logout_uri: str | None
    frontchannel_logout_session_required: bool
    require_consent: bool
    min_level: int
    subject_type: str
    sector_identifier_uri: str | None
    require_pushed_authorization_requests: bool
    dpop_bound_access_tokens: bool
    profile: str | None
    name_fa: str | None
    name_en: str | None
    logo_uri: str | None
    client_uri: str | None
    policy_uri: str | None
    tos_uri: str | None
    contacts: list[str]
    enabled: bool
    has_secret: bool
    old_secret_works_until: str | None
    created_at: str | None
    updated_at: str | None


class ClientCreated(BaseModel):
    client: ClientOut
    client_secret: str | None = Field(description="Shown once, never again; null for a client with no secret.")
    note: str | None = None


class RotateSecret(_In):
    grace_hours: float | None = Field(None, ge=0, le=720, description="Keep the old secret working this long.")


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str
    old_secret_works_for_hours: float
    note: str


class Deleted(BaseModel):
    client_id: str
    deleted: bool


class ServiceIn(_In):
    min_level: int = Field(..., ge=1, le=3, description="Minimum assurance level.")
    max_auth_age: int | None = Field(None, ge=0, description="Maximum authentication age in seconds.")
    profile: str | None = Field(None, description="Only clients held to this profile may request it: fapi2.")
    name_fa: str | None = None
    name_en: str | None = None


class ServiceOut(_Out):
    client_id: str
    scope: str
    min_level: int
    max_auth_age: int | None
    profile: str | None
    name_fa: str | None
    name_en: str | None


class ServiceRemoved(BaseModel):
    client_id: str
    scope: str
    removed: bool


class PersonOut(_Out):
    national_code: str
    given_name: str
    family_name: str
    proofing_tier: int
    status: str
    created_at: str


class PeoplePage(BaseModel):
    people: list[PersonOut]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page.")


class Ended(BaseModel):
    status: str | None = None
    sessions_ended: list[str]
    clients_notified: list[str]


class Enabled(BaseModel):
    status: Literal["active"]
    changed: bool


class Unlocked(BaseModel):
    unlocked: bool


class EntityOut(_Out):
    id: str
    national_id: str
    name: str
    type: str | None
    status: str
    min_level: int


class RepresentationOut(_Out):
    id: str
    entity_id: str
    national_code: str
    role: str
    powers: list[str]
    valid_from: str
    valid_until: str | None
    source: str
    granted_by: str | None
    revoked_at: str | None


class EntityWithRepresentations(BaseModel):
    entity: EntityOut
    representations: list[RepresentationOut]


class MandateIn(_In):
    national_code: str = Field(..., description="The representative's national code.")
    role: str = Field(..., description="e.g. signatory, accountant, employee.")
    powers: list[str] = Field(..., min_length=1, description="Services the representative may use for the entity.")
    valid_from: str | None = Field(None, description="First day (YYYY-MM-DD, Gregorian or Solar Hijri). Default: now.")
    valid_until: str | None = Field(None, description="Last day, included. Default: until revoked.")


class MandateRevoke(_In):
    reason: str | None = Field(None, description="Why, for the audit log.")


class MandateRevoked(BaseModel):
    id: str
    revoked: list[str]
    already_revoked: bool


class KeyOut(_Out):
    kid: str
    alg: str
    state: str
    created_at: str
    activated_at: str | None
    retired_at: str | None


class KeyRotate(_In):
    alg: str = Field("ES256", description="ES256 or RS256.")


class KeyRotated(BaseModel):
    alg: str
    activated: str | None
    retired: list[str]
    removed: list[str]
    created_next: str | None
