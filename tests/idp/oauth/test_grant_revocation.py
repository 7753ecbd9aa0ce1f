"""`Grants.revoke_grant`: every way a grant ends revokes the refresh tokens, the access tokens
issued with them (and a session's sid), then records the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from idp.audit import AuditLog
from idp.oauth.grant_revocation import Family, Grants, OfClient, OfSession
from idp.oauth.refresh_tokens import RefreshTokenStore, SqlRefreshTokenStore
from idp.oauth.revocations import AccessTokenRevocations, SqlAccessTokenRevocations
from idp.storage.store import MemoryStore


@pytest.fixture
def refresh(engine: Engine) -> RefreshTokenStore:
    return SqlRefreshTokenStore(engine)


@pytest.fixture
def revocations(engine: Engine) -> AccessTokenRevocations:
    return SqlAccessTokenRevocations(engine, MemoryStore(), token_horizon=600, session_horizon=600)


@pytest.fixture
def audit(engine: Engine) -> AuditLog:
    return AuditLog(engine)


@pytest.fixture
def grants(refresh: RefreshTokenStore, revocations: AccessTokenRevocations, audit: AuditLog) -> Grants:
    return Grants(refresh, revocations, audit)


def issue(refresh: RefreshTokenStore, family: str, jti: str, *, sid: str = "s1", client: str = "shop") -> str:
    return refresh.issue(family_id=family, client_id=client, person_id="p1", session_id=sid, scope="openid",
                         auth={}, access_jti=jti, ttl=3600)


def test_a_family_ends_with_its_access_tokens_and_an_audit_record(
        grants: Grants, refresh: RefreshTokenStore, revocations: AccessTokenRevocations, audit: AuditLog) -> None:
    token = issue(refresh, "f1", "a1")
    issue(refresh, "f2", "b1")
    assert grants.revoke_grant(Family("f1"), "token.revoked", person_id="p1", client_id="shop") == ["a1"]
    assert refresh.find(token).revoked_at is not None  # type: ignore[union-attr]
    assert revocations.is_revoked("a1") and not revocations.is_revoked("b1")
    (event,) = audit.recent(kind="token.revoked")
    assert (event.person_id, event.client_id, event.detail) == ("p1", "shop", {"family_id": "f1"})


def test_tokens_known_only_to_the_caller_are_revoked_too(
        grants: Grants, revocations: AccessTokenRevocations, audit: AuditLog) -> None:
    assert grants.revoke_grant(Family("f9"), "token.code_replayed", also=["from-code", None]) == []
    assert revocations.is_revoked("from-code")
    (event,) = audit.recent(kind="token.code_replayed")
    assert (event.person_id, event.client_id, event.detail) == (None, None, {"family_id": "f9"})


def test_a_session_ends_with_every_token_carrying_its_sid(
        grants: Grants, refresh: RefreshTokenStore, revocations: AccessTokenRevocations, audit: AuditLog) -> None:
    issue(refresh, "f1", "a1", sid="s1")
    issue(refresh, "f2", "b1", sid="s2")
    assert grants.revoke_grant(OfSession("s1"), None) == ["a1"]
    assert revocations.is_revoked("a1") and revocations.session_revoked("s1")
    assert revocations.is_revoked("never-on-record", "s1")
    assert not revocations.is_revoked("b1", "s2")
    assert audit.recent() == []  # the caller records its own event


def test_a_disconnected_client_loses_what_it_holds(
        grants: Grants, refresh: RefreshTokenStore, revocations: AccessTokenRevocations) -> None:
    issue(refresh, "f1", "a1", client="shop")
    issue(refresh, "f2", "b1", client="bank")
    assert grants.revoke_grant(OfClient("p1", "shop"), None) == ["a1"]
    assert revocations.is_revoked("a1") and not revocations.is_revoked("b1")
    assert not revocations.session_revoked("s1")
