"""Single logout: every way an SSO session ends goes through here, so every way fans out the same.

RP-initiated logout, "sign out" on the account page, "sign out everywhere", a new sign-in on the
same browser, a password reset, an operator's `idp people sign-out`, and the expiry sweep all call
`SingleLogout`: the session is closed in the register (exactly once, whoever gets there first), its
store entry removed, the refresh and access tokens issued in it revoked, and an OIDC
Back-Channel Logout notification queued for every client in it (delivered by `idp.sessions.delivery`).
Front-Channel Logout URLs are returned for the page the browser is on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from clients.registry import ClientRegistry
from idp.audit import AuditLog
from idp.oauth.grant_revocation import Grants, OfSession
from idp.oauth.tokens import TokenIssuer
from idp.sessions.outbox import LogoutOutbox
from idp.sessions.register import SessionRecord, SessionRegister
from idp.storage.store import Store, StoreUnavailable
from levels.clock import utcnow

log = logging.getLogger("idp")


@dataclass(frozen=True, slots=True)
class EndedSession:
    sid: str
    person_id: str
    clients: tuple[str, ...]


class SingleLogout:
    def __init__(
        self, *, store: Store, register: SessionRegister, grants: Grants,
        issuer: TokenIssuer, outbox: LogoutOutbox, clients: ClientRegistry, audit: AuditLog,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._register = register
        self._grants = grants
        self._issuer = issuer
        self._outbox = outbox
        self._clients = clients
        self._audit = audit
        self._clock = clock

    def end(self, sid: str, *, reason: str, actor: str | None = None, ip: str | None = None) -> EndedSession | None:
        """End one session; None if it had already ended (nothing is sent twice)."""
        record = self._register.close(sid, reason=reason, at=self._clock())
        if record is None:
            return None
        return self._fan_out(record, reason=reason, actor=actor, ip=ip)

    def end_all(self, person_id: str, *, reason: str, actor: str | None = None, ip: str | None = None,
                keep: str | None = None) -> list[EndedSession]:
        """End every session of the person (except `keep`, the sid of the browser asking, if given)."""
        ended = []
        for sid in self._register.unended_sids(person_id):
            if sid != keep and (done := self.end(sid, reason=reason, actor=actor, ip=ip)) is not None:
                ended.append(done)
        return ended

    def sweep_expired(self, limit: int = 500) -> int:
        """End the sessions past their idle or absolute timeout: their clients learn of it too."""
        count = 0
        for sid in self._register.expired(self._clock(), limit):
            if self.end(sid, reason="expired", actor="sweep") is not None:
                count += 1
        return count

    def _fan_out(self, record: SessionRecord, *, reason: str, actor: str | None, ip: str | None) -> EndedSession:
        # What protects people goes to the database first: once the register says ended, nothing
        # retries this, so a store that is down must not stop the revocations or the notifications.
        # Access tokens issued without a refresh token are not on record; they all carry the sid.
        self._grants.revoke_grant(OfSession(record.sid), None)  # audited below, with the fan-out
        queued = self._outbox.enqueue(sid=record.sid, person_id=record.person_id, client_ids=record.clients)
        self._audit.record("session.ended", actor=actor, person_id=record.person_id, ip=ip, detail={
            "sid": record.sid, "reason": reason, "clients": list(record.clients), "backchannel_queued": queued})
        try:
            self._store.delete(record.store_key)
        except StoreUnavailable as exc:
            # A copy left in the store can no longer yield tokens: the session's sid is revoked, which
            # the code exchange, userinfo and introspection check.
            log.warning("session %s ended; its store copy could not be removed: %s", record.sid, exc)
        return EndedSession(record.sid, record.person_id, record.clients)

    def frontchannel_urls(self, ended: list[EndedSession]) -> list[str]:
        """OIDC Front-Channel Logout 1.0 §2: the URL to load in an iframe for each client that registered
        one, with `iss` and `sid` when the client asked for them."""
        urls: list[str] = []
        for session in ended:
            for client_id in session.clients:
                client = self._clients.get(client_id)
                if client is None or not client.frontchannel_logout_uri:
                    continue
                url = client.frontchannel_logout_uri
                if client.frontchannel_logout_session_required:
                    query = urlencode({"iss": self._issuer.issuer, "sid": session.sid})
                    url += ("&" if "?" in url else "?") + query
                if url not in urls:
                    urls.append(url)
        return urls
