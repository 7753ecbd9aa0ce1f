"""Ending a grant: the one place that revokes refresh tokens and the access tokens issued with them.

A grant ends when its refresh token is revoked (RFC 7009 §2.1: the whole grant, access tokens
included), replayed (OAuth 2.0 Security BCP §4.14), its code is replayed (RFC 6749 §4.1.2), its
mandate ends, its SSO session ends, or the person disconnects the client. Every one of those goes
through `Grants.revoke_grant`, so every one revokes the same things in the same order: the refresh
tokens, then the access tokens issued alongside them (and, for a session, every access token
carrying its `sid`), both in the durable database, then the audit record.
"""

from __future__ import annotations

from collections.abc import Iterable

from idp.audit import AuditLog
from idp.oauth.refresh_tokens import Family, GrantSet, OfClient, OfSession, RefreshTokenStore
from idp.oauth.revocations import AccessTokenRevocations

__all__ = ["Family", "GrantSet", "Grants", "OfClient", "OfSession"]


class Grants:
    def __init__(self, refresh_tokens: RefreshTokenStore, revocations: AccessTokenRevocations, audit: AuditLog) -> None:
        self._refresh = refresh_tokens
        self._revocations = revocations
        self._audit = audit

    def revoke_grant(
        self, grants: GrantSet, reason: str | None, *, person_id: str | None = None, client_id: str | None = None,
        also: Iterable[str | None] = (),
    ) -> list[str]:
        """Revoke `grants` and return the ids of the access tokens revoked with them.

        `reason` is the audit event recorded (with the family id, for a `Family`); None when the
        caller records a fuller event of its own (a session ended, a service disconnected).
        `also`: access-token ids known to belong to the grant but not on record with a refresh
        token (the tokens of a code exchanged without one).
        """
        jtis = self._refresh.revoke(grants)
        sid = grants.sid if isinstance(grants, OfSession) else None
        self._revocations.revoke([*jtis, *(j for j in also if j)], sid=sid)
        if reason is not None:
            detail: dict[str, object] = {"family_id": grants.family_id} if isinstance(grants, Family) else {}
            self._audit.record(reason, person_id=person_id, client_id=client_id, detail=detail)
        return jtis
