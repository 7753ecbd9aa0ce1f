"""Sending the back-channel logout outbox (§2.5): one pass over the due rows, retries with backoff.

A pass claims rows one at a time from the `LogoutOutbox` (`idp.sessions.outbox`, which owns the
lease rules), mints a fresh logout token for each (`idp.sessions.logout_token`), POSTs it and
writes the outcome back. Every server process runs passes in the background
(`idp.background.run_deliveries`); `idp logout deliver` runs one by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import Engine

from idp import metrics
from idp.sessions.logout_token import LogoutTokens
from idp.sessions.outbox import DELIVERED, FAILED, MAX_ERROR, PENDING, Claimed, LogoutOutbox, SqlLogoutOutbox
from levels.clock import utcnow

if TYPE_CHECKING:
    from clients.models import Client
    from clients.registry import ClientRegistry
    from clients.subjects import Subjects
    from idp.audit import AuditLog
    from idp.settings import Settings
    from keys.keyring import KeyRing

log = logging.getLogger(__name__)

CLIENT_GONE = "client no longer registered"
NO_URI = "client no longer has a backchannel_logout_uri"
INTERRUPTED = "the last attempt was interrupted (worker stopped mid-send)"


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one `deliver_due` pass did: rows sent successfully, rows that will be tried again, rows
    given up on."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.retried + self.failed


class LogoutDeliverer:
    """Sends due notifications (§2.5) and records each outcome; safe to run in many processes at once.

    The deliverer owns `http` from now on (`close()` closes it); every request says
    follow_redirects=False whatever the client's defaults. Attempt n failing reschedules the row
    min(max_delay, base_delay * 2**(n-1)) seconds later; attempt `max_attempts` failing gives up.
    `lease` is how long a claimed row stays invisible to other workers while it is being sent; it
    must exceed the longest send (httpx applies `timeout` to connect, write, read and pool
    separately), or a slow send may be repeated by another worker (harmless: same jti).
    """

    def __init__(
        self,
        outbox: LogoutOutbox,
        tokens: LogoutTokens,
        clients: ClientRegistry,
        http: httpx.Client,
        audit: AuditLog,
        *,
        timeout: float = 5.0,
        max_attempts: int = 8,
        base_delay: float = 10.0,
        max_delay: float = 3600.0,
        lease: float | None = None,
        clock: Callable[[], datetime] = utcnow,
        actor: str = "backchannel",
    ) -> None:
        if max_attempts < 1 or base_delay <= 0 or max_delay <= 0 or timeout <= 0:
            raise ValueError("max_attempts, base_delay, max_delay and timeout must be positive")
        self._outbox = outbox
        self._tokens = tokens
        self._clients = clients
        self._http = http
        self._audit = audit
        self._timeout = timeout
        self.max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._lease = timedelta(seconds=lease if lease is not None else 60.0 + 4 * timeout)
        self._clock = clock
        self._actor = actor

    def close(self) -> None:
        self._http.close()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th attempt failed."""
        return min(self._max_delay, self._base_delay * 2 ** min(attempts - 1, 62))

    def deliver_due(self, limit: int = 100, *, should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
        """Send up to `limit` due notifications, one claimed row at a time, and return the counts.

        Rows are claimed one by one so that several workers share a backlog fairly and a stop
        request (`should_stop`, checked between rows) never leaves claimed rows waiting for a lease.
        """
        counts = {DELIVERED: 0, PENDING: 0, FAILED: 0}
        for _ in range(limit):
            if should_stop is not None and should_stop():
                break
            claimed = self._outbox.claim(self._clock(), self._lease)
            if claimed is None:
                break
            outcome = self._process(claimed)
            if outcome is not None:
                counts[outcome] += 1
        report = DeliveryReport(counts[DELIVERED], counts[PENDING], counts[FAILED])
        if report.total:
            log.info("back-channel logout: %d delivered, %d to retry, %d failed",
                     report.delivered, report.retried, report.failed)
        return report

    # -- internals --------------------------------------------------------------------------

    def _process(self, row: Claimed) -> str | None:
        """Send one claimed row and record the outcome; return the new status (None if another worker
        took the row over meanwhile and its outcome stands)."""
        client = self._clients.get(row.client_id)
        if client is None or not client.enabled:
            return self._give_up(row, CLIENT_GONE, attempts=row.attempts - 1)
        uri = client.backchannel_logout_uri
        if not uri:
            return self._give_up(row, NO_URI, attempts=row.attempts - 1)
        if row.attempts > self.max_attempts:
            # The previous claim was the last allowed and its worker died mid-send.
            return self._give_up(row, INTERRUPTED, attempts=row.attempts - 1)
        error = self._send(client, uri, row)
        now = self._clock()
        if error is None:
            # The registered URI is recorded, in case it changed since the row was queued.
            if not self._outbox.mark_delivered(row, at=now, uri=uri):
                return None
            self._audit.record("logout.backchannel_delivered", actor=self._actor, person_id=row.person_id,
                               client_id=row.client_id, detail={"sid": row.sid})
            return DELIVERED
        if row.attempts >= self.max_attempts:
            return self._give_up(row, error, attempts=row.attempts, uri=uri)
        metrics.BACKCHANNEL_FAILURES.labels("retry").inc()
        retry_at = now + timedelta(seconds=self.backoff(row.attempts))
        if not self._outbox.reschedule(row, at=retry_at, error=error, uri=uri):
            return None
        log.info("back-channel logout to %s failed (%s); attempt %d of %d, next at %s",
                 row.client_id, error, row.attempts, self.max_attempts, retry_at.isoformat())
        return PENDING

    def _send(self, client: Client, uri: str, row: Claimed) -> str | None:
        """POST the logout token (§2.5); None on success, else a short reason that never holds the token."""
        try:
            # The `sub` this client sees for the person (pairwise or public, OIDC Core §8).
            token = self._tokens.make(client, sub=self._tokens.subject(client, row.person_id), sid=row.sid,
                                      jti=row.jti)
        except Exception as exc:  # noqa: BLE001 - e.g. no active key for the client's alg: retry later
            log.exception("cannot sign a logout token for %s", row.client_id)
            return f"signing failed: {type(exc).__name__}"
        try:
            # Streamed and closed unread: the status is all we need (§2.8), and an RP cannot make
            # us buffer a large body. Redirects are never followed: the token goes only to the
            # registered URI.
            with self._http.stream("POST", uri, data={"logout_token": token}, timeout=self._timeout,
                                   follow_redirects=False) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            # Only the class: exception texts can quote the request.
            return type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - e.g. an invalid URL; still a failed attempt
            log.exception("back-channel logout to %s could not be sent", row.client_id)
            return type(exc).__name__
        # §2.8: 200 on success; some frameworks answer 204 for an empty 200, so any 2xx counts.
        if 200 <= status < 300:
            return None
        if 300 <= status < 400:
            return f"HTTP {status} (redirects are not followed)"
        return f"HTTP {status}"

    def _give_up(self, row: Claimed, error: str, *, attempts: int, uri: str | None = None) -> str | None:
        error = error[:MAX_ERROR]
        if not self._outbox.give_up(row, attempts=attempts, error=error, uri=uri):
            return None
        metrics.BACKCHANNEL_FAILURES.labels("given_up").inc()
        log.warning("back-channel logout to %s given up after %d attempt(s): %s", row.client_id, attempts, error)
        self._audit.record("logout.backchannel_failed", actor=self._actor, person_id=row.person_id,
                           client_id=row.client_id,
                           detail={"sid": row.sid, "attempts": attempts, "last_error": error})
        return FAILED


def make_backchannel(
    settings: Settings, engine: Engine, keyring: KeyRing, clients: ClientRegistry, audit: AuditLog,
    subjects: Subjects | None = None,
) -> tuple[LogoutOutbox, LogoutDeliverer]:
    """The outbox and its deliverer as configured by the `IDP_BACKCHANNEL_*` settings."""
    http = httpx.Client(
        timeout=settings.backchannel_timeout,
        follow_redirects=False,
        headers={"User-Agent": "national-idp back-channel logout"},
    )
    tokens = LogoutTokens(keyring, settings.issuer, default_alg=settings.signing_alg, subjects=subjects)
    outbox = SqlLogoutOutbox(engine, clients)
    deliverer = LogoutDeliverer(
        outbox, tokens, clients, http, audit,
        timeout=settings.backchannel_timeout, max_attempts=settings.backchannel_max_attempts,
        base_delay=settings.backchannel_base_delay, max_delay=settings.backchannel_max_delay,
    )
    return outbox, deliverer
