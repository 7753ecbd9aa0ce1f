"""OIDC Back-Channel Logout 1.0: logout tokens, a durable outbox and the worker that delivers it.

Spec: https://openid.net/specs/openid-connect-backchannel-1_0.html

Ending a session (`idp.sessions.logout.SingleLogout`) only *enqueues*: one `logout_deliveries` row per client
that registered a `backchannel_logout_uri`, written in its own short transaction. `LogoutDeliverer`
then POSTs the notifications from a background loop in every server process (or `idp logout deliver`).
The row outlives restarts and RP outages, so a logout is never lost because a portal was down:

* Claiming a row is one atomic UPDATE (on PostgreSQL its sub-select uses FOR UPDATE SKIP LOCKED) that
  counts the attempt and pushes `next_attempt_at` a lease into the future. No transaction is open
  while the HTTP request runs. If the process dies mid-send, the row is simply due again once the
  lease ends: delivery is at-least-once, and the jti is the same on every attempt so the RP can
  drop a duplicate (§2.6: an RP may check that it has not seen the jti recently).
* A failure is written back only if the row is still the one we claimed (same `attempts`): a worker
  that overran its lease cannot overwrite the state left by the worker that re-claimed the row.
* Because the attempt is counted when it starts, a row that crashes its worker every time still
  runs out of attempts instead of looping forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import httpx
from sqlalchemy import Engine, insert, select, update

from idp.storage.tables import LogoutDeliveryRow
from levels.clock import utcnow

if TYPE_CHECKING:
    from clients.models import Client
    from clients.registry import ClientRegistry
    from idp.audit import AuditLog
    from idp.settings import Settings
    from keys.keyring import KeyRing

log = logging.getLogger(__name__)

# §2.4: the one member of the `events` claim that makes a JWT a logout token.
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# §2.4 / §4.1: explicit typing keeps a logout token from being mistaken for any other JWT we issue.
LOGOUT_TOKEN_TYP = "logout+jwt"
# Logout tokens are sent at once and re-signed on every attempt, so a short life is enough; it
# bounds how long a token captured in transit could be replayed.
LOGOUT_TOKEN_TTL = 120

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES: tuple[str, ...] = (PENDING, DELIVERED, FAILED)

CLIENT_GONE = "client no longer registered"
NO_URI = "client no longer has a backchannel_logout_uri"
INTERRUPTED = "the last attempt was interrupted (worker stopped mid-send)"
_MAX_ERROR = 500

_T = LogoutDeliveryRow
_table = LogoutDeliveryRow.__table__




def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone-aware columns; we only ever store UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class LogoutTokens:
    """Signs logout tokens (§2.4) with the keys that sign our ID tokens, so RPs verify both alike."""

    def __init__(
        self, keyring: KeyRing, issuer: str, clock: Callable[[], float] = time.time, *, default_alg: str = "ES256"
    ) -> None:
        self._keyring = keyring
        self.issuer = issuer
        self._clock = clock
        self._default_alg = default_alg

    def make(self, client: Client, *, sub: str, sid: str, jti: str) -> str:
        """A compact JWS for `client`: iss, aud, iat, exp, jti, sub, sid and the logout event.

        Signed with the client's `id_token_signed_response_alg` (the RP validates it like an ID
        token, §2.6), header typ `logout+jwt`. It never carries a nonce (§2.4: a logout token with
        one MUST be rejected, which keeps it from being replayed as an ID token).
        """
        now = int(self._clock())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": jti,
            "sub": sub,
            "sid": sid,
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        alg = client.id_token_signed_response_alg or self._default_alg
        return self._keyring.sign(claims, alg=alg, typ=LOGOUT_TOKEN_TYP)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox, as operators and tests see it (the token itself is never stored)."""

    id: int
    client_id: str
    uri: str
    sid: str
    person_id: str
    jti: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id, client_id=row.client_id, uri=row.uri, sid=row.sid, person_id=row.person_id, jti=row.jti,
        status=row.status, attempts=row.attempts, next_attempt_at=_aware(row.next_attempt_at),  # type: ignore[arg-type]
        last_error=row.last_error, created_at=_aware(row.created_at),  # type: ignore[arg-type]
        delivered_at=_aware(row.delivered_at),
    )


class LogoutOutbox:
    """The durable queue of back-channel logout notifications."""

    def __init__(self, engine: Engine, clients: ClientRegistry, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._clients = clients
        self._clock = clock

    def enqueue(self, *, sid: str, person_id: str, client_ids: Iterable[str]) -> int:
        """Queue a notification of the end of session `sid` for each distinct client in `client_ids`
        that is enabled and registered a `backchannel_logout_uri` (§2.2); return how many were queued.

        Runs in a transaction of its own and sends nothing: the caller (ending a session) must not
        wait on RPs. Each row gets a fresh random jti, kept for all its attempts.
        """
        now = self._clock()
        rows = []
        for client_id in dict.fromkeys(client_ids):
            client = self._clients.get(client_id)
            if client is None or not client.enabled or not client.backchannel_logout_uri:
                continue
            rows.append({
                "client_id": client_id, "uri": client.backchannel_logout_uri, "sid": sid,
                "person_id": person_id, "jti": secrets.token_urlsafe(24), "status": PENDING, "attempts": 0,
                "next_attempt_at": now, "last_error": None, "created_at": now, "delivered_at": None,
            })
        if rows:
            with self._engine.begin() as conn:
                conn.execute(insert(_table), rows)
        return len(rows)

    def deliveries(self, *, sid: str | None = None, status: str | None = None, limit: int = 100) -> list[Delivery]:
        """Rows matching the filters, newest first."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        query = select(_table).order_by(_T.id.desc()).limit(limit)
        if sid is not None:
            query = query.where(_T.sid == sid)
        if status is not None:
            query = query.where(_T.status == status)
        with self._engine.connect() as conn:
            return [_delivery(row) for row in conn.execute(query)]

    def retry_failed(
        self, *, ids: Iterable[int] = (), sid: str | None = None, client_id: str | None = None, everything: bool = False
    ) -> int:
        """Give failed deliveries a fresh set of attempts, due now; return how many were reopened.

        For after an RP outage longer than the retry schedule. At least one filter, or `everything`,
        is required so an operator cannot reopen every failure by accident. The jti stays the same.
        """
        id_list = list(ids)
        if not (id_list or sid or client_id or everything):
            raise ValueError("name the deliveries to retry (ids, sid or client), or ask for all of them")
        stmt = update(_T).where(_T.status == FAILED).values(status=PENDING, attempts=0, next_attempt_at=self._clock())
        if id_list:
            stmt = stmt.where(_T.id.in_(id_list))
        if sid is not None:
            stmt = stmt.where(_T.sid == sid)
        if client_id is not None:
            stmt = stmt.where(_T.client_id == client_id)
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount or 0


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


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    client_id: str
    sid: str
    person_id: str
    jti: str
    attempts: int  # including the attempt just claimed: the fence for writing the result


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
        engine: Engine,
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
        self._engine = engine
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
        delivered = retried = failed = 0
        for _ in range(limit):
            if should_stop is not None and should_stop():
                break
            claimed = self._claim(self._clock())
            if claimed is None:
                break
            outcome = self._process(claimed)
            if outcome == DELIVERED:
                delivered += 1
            elif outcome == PENDING:
                retried += 1
            elif outcome == FAILED:
                failed += 1
        report = DeliveryReport(delivered, retried, failed)
        if report.total:
            log.info("back-channel logout: %d delivered, %d to retry, %d failed", delivered, retried, failed)
        return report

    # -- internals --------------------------------------------------------------------------

    def _claim(self, now: datetime) -> _Claimed | None:
        """Take the oldest due row: count the attempt and hide the row for a lease, atomically.

        One UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING: on
        PostgreSQL concurrent workers skip each other's rows instead of waiting or sending twice;
        SQLite drops FOR UPDATE, but the statement is still atomic there (one writer at a time).
        """
        due = _table.alias("due")
        pick = (
            select(due.c.id)
            .where(due.c.status == PENDING, due.c.next_attempt_at <= now)
            .order_by(due.c.next_attempt_at, due.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(_T)
            .where(_T.id == pick)
            .values(attempts=_T.attempts + 1, next_attempt_at=now + self._lease)
            .returning(_T.id, _T.client_id, _T.sid, _T.person_id, _T.jti, _T.attempts)
        )
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return _Claimed(row.id, row.client_id, row.sid, row.person_id, row.jti, row.attempts)

    def _process(self, row: _Claimed) -> str | None:
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
            if not self._finish(row, status=DELIVERED, delivered_at=now, uri=uri):
                return None
            self._audit.record("logout.backchannel_delivered", actor=self._actor, person_id=row.person_id,
                               client_id=row.client_id, detail={"sid": row.sid})
            return DELIVERED
        if row.attempts >= self.max_attempts:
            return self._give_up(row, error, attempts=row.attempts, uri=uri)
        retry_at = now + timedelta(seconds=self.backoff(row.attempts))
        if not self._finish(row, next_attempt_at=retry_at, last_error=error, uri=uri):
            return None
        log.info("back-channel logout to %s failed (%s); attempt %d of %d, next at %s",
                 row.client_id, error, row.attempts, self.max_attempts, retry_at.isoformat())
        return PENDING

    def _send(self, client: Client, uri: str, row: _Claimed) -> str | None:
        """POST the logout token (§2.5); None on success, else a short reason that never holds the token."""
        try:
            token = self._tokens.make(client, sub=row.person_id, sid=row.sid, jti=row.jti)
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

    def _give_up(self, row: _Claimed, error: str, *, attempts: int, uri: str | None = None) -> str | None:
        error = error[:_MAX_ERROR]
        values: dict[str, object] = {"status": FAILED, "attempts": attempts, "last_error": error}
        if uri is not None:
            values["uri"] = uri
        if not self._finish(row, **values):
            return None
        log.warning("back-channel logout to %s given up after %d attempt(s): %s", row.client_id, attempts, error)
        self._audit.record("logout.backchannel_failed", actor=self._actor, person_id=row.person_id,
                           client_id=row.client_id,
                           detail={"sid": row.sid, "attempts": attempts, "last_error": error})
        return FAILED

    def _finish(self, row: _Claimed, **values: object) -> bool:
        """Write the outcome unless the row moved on; False if it did.

        A success is recorded whenever the row is still pending: the RP has the token, even if our
        lease ran out and another worker re-claimed the row meanwhile. A failure is recorded only if
        the row is still the one we claimed (same `attempts`), so a worker that overran its lease
        cannot overwrite the newer attempt's schedule or outcome.
        """
        if "last_error" in values and isinstance(values["last_error"], str):
            values["last_error"] = values["last_error"][:_MAX_ERROR]
        stmt = update(_T).where(_T.id == row.id, _T.status == PENDING)
        if values.get("status") != DELIVERED:
            stmt = stmt.where(_T.attempts == row.attempts)
        stmt = stmt.values(**values)
        with self._engine.begin() as conn:
            done = bool(conn.execute(stmt).rowcount)
        if not done:
            log.warning("back-channel logout row %d was re-claimed by another worker; leaving it to it", row.id)
        return done


async def run_deliveries(
    deliverer: LogoutDeliverer, *, interval: float, stop: asyncio.Event, limit: int = 100
) -> None:
    """Deliver due notifications every `interval` seconds until `stop` is set (the app's lifespan).

    Each pass runs in a worker thread with a limiter of its own, so a pass waiting on slow RPs never
    takes one of the threads that serve requests. A full pass (`limit` rows) is followed at once by
    another. Exceptions are logged and the loop goes on: the outbox keeps the work until the next
    pass. Set `stop` and await the task to shut down; it returns after the row being sent.
    """
    limiter = anyio.CapacityLimiter(1)
    while not stop.is_set():
        report = DeliveryReport()
        try:
            report = await anyio.to_thread.run_sync(
                lambda: deliverer.deliver_due(limit, should_stop=stop.is_set), limiter=limiter
            )
        except Exception:  # noqa: BLE001 - never let the loop (and with it the app) die
            log.exception("back-channel logout delivery pass failed; retrying in %s s", interval)
        if report.total >= limit:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def make_backchannel(
    settings: Settings, engine: Engine, keyring: KeyRing, clients: ClientRegistry, audit: AuditLog
) -> tuple[LogoutOutbox, LogoutDeliverer]:
    """The outbox and its deliverer as configured by the `IDP_BACKCHANNEL_*` settings."""
    http = httpx.Client(
        timeout=settings.backchannel_timeout,
        follow_redirects=False,
        headers={"User-Agent": "national-idp back-channel logout"},
    )
    tokens = LogoutTokens(keyring, settings.issuer, default_alg=settings.signing_alg)
    deliverer = LogoutDeliverer(
        engine, tokens, clients, http, audit,
        timeout=settings.backchannel_timeout, max_attempts=settings.backchannel_max_attempts,
        base_delay=settings.backchannel_base_delay, max_delay=settings.backchannel_max_delay,
    )
    return LogoutOutbox(engine, clients), deliverer
