"""The SSO session: one per browser, behind an opaque cookie.

The cookie carries a random secret; the key is its SHA-256, so a dump of the store or the database
does not yield usable cookies. The session records who signed in, each factor with its time, the
clients that received tokens (for logout fan-out) and whom the person acts as at each. `sid` is a
separate public id put in ID tokens.

The durable register (`idp.sessions.register`) is the truth: every change is written there first,
then to the copy in the ephemeral store that requests read. When the store loses a session (Redis
restarted empty, the process holding the in-process store restarted), the next request restores it
from the register, so nobody is signed out by an outage of the store. Copies are only ever updated
in place (`Store.replace`), and a restored copy is checked against the register once written, so a
session ended meanwhile (logout, the account page, an operator) never comes back. A session the
register cannot restore (opened before it kept the factors) is ended with the full logout fan-out,
never dropped silently.

A session ends after the absolute timeout (`session_ttl`) or after `session_idle_timeout` without
use, whichever comes first; ending it, for whatever reason, goes through `idp.sessions.logout.SingleLogout`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import orjson

from idp.sessions.register import SessionRecord, SessionRegister
from idp.storage.keys import SESSION
from idp.storage.store import Store
from levels.policy import ProvenFactor


@dataclass(frozen=True, slots=True)
class Factor:
    method: str  # RFC 8176 amr value, e.g. "pwd"
    at: float  # epoch seconds when it was proven (sub-second: a step-up and the request it serves can share a second)


@dataclass(frozen=True, slots=True)
class SsoSession:
    sid: str
    person_id: str
    created_at: int
    factors: tuple[Factor, ...]
    last_seen: float = 0.0  # epoch seconds of the last use (idle timeout)
    clients: tuple[str, ...] = field(default=())
    # Per client, who the person last chose to act as there: "self" or a mandate id (legal entities).
    acting: dict[str, str] = field(default_factory=dict)

    @property
    def auth_time(self) -> int:
        """Time of the most recent factor: OIDC `auth_time` is when the End-User last authenticated."""
        return int(max(f.at for f in self.factors))

    def proven_factors(self) -> list[ProvenFactor]:
        return [ProvenFactor(f.method, datetime.fromtimestamp(f.at, UTC)) for f in self.factors]


def store_key(cookie_value: str) -> str:
    """The key of the cookie's session, in the store and in the register."""
    return SESSION + hashlib.sha256(cookie_value.encode()).hexdigest()


def _encode(session: SsoSession) -> bytes:
    return orjson.dumps(asdict(session))


def _decode(raw: bytes) -> SsoSession:
    data = orjson.loads(raw)
    return SsoSession(
        sid=data["sid"],
        person_id=data["person_id"],
        created_at=data["created_at"],
        factors=tuple(Factor(**f) for f in data["factors"]),
        last_seen=float(data.get("last_seen") or data["created_at"]),
        clients=tuple(data.get("clients", ())),
        acting=dict(data.get("acting") or {}),
    )


def _pairs(factors: tuple[Factor, ...]) -> tuple[tuple[str, float], ...]:
    return tuple((f.method, f.at) for f in factors)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class SessionCopies:
    """The store's copies of SSO sessions, each under its `store_key`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, key: str) -> SsoSession | None:
        raw = self._store.get(key)
        return _decode(raw) if raw else None

    def put(self, key: str, session: SsoSession, ttl: float) -> None:
        self._store.set(key, _encode(session), ttl)

    def replace(self, key: str, session: SsoSession, ttl: float) -> bool:
        """Update a copy in place; never re-creates one that was deleted meanwhile."""
        return self._store.replace(key, _encode(session), ttl)

    def delete(self, key: str) -> None:
        self._store.delete(key)


class SessionManager:
    def __init__(
        self, store: Store, register: SessionRegister, *, ttl: int, idle_timeout: int, touch_interval: int = 60,
        check_register: bool = False, on_lost: Callable[[str], object] = lambda sid: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._copies = SessionCopies(store)
        # Ends (with the logout fan-out) a session the store lost and the register cannot restore.
        self._on_lost = on_lost
        # With a process-local store another process (the `idp` CLI) cannot delete a session from it:
        # then each load also asks the register whether the session was ended elsewhere.
        self._check_register = check_register
        self.register = register
        self._ttl = ttl
        self._idle = idle_timeout
        self._touch_interval = touch_interval
        self._clock = clock

    def _expiry(self, session: SsoSession, last_seen: float) -> float:
        return min(session.created_at + self._ttl, last_seen + self._idle)

    def load(self, cookie_value: str | None) -> SsoSession | None:
        if not cookie_value or len(cookie_value) > 128:
            return None
        session = self._copies.get(store_key(cookie_value))
        if session is None:
            return self._restore(store_key(cookie_value))
        # The store's TTL normally removes it first; this holds when a write extended it or the
        # clock moved (and the expiry sweep then ends it for good, logout fan-out included).
        if self._expiry(session, session.last_seen) <= self._clock():
            return None
        if self._check_register and self.register.is_ended(session.sid):
            self._copies.delete(store_key(cookie_value))
            return None
        return session

    def _restore(self, key: str) -> SsoSession | None:
        """The store has no copy of this cookie's session: take it from the register, if it is open."""
        record = self.register.by_store_key(key)
        now = self._clock()
        if record is None or record.ended_at is not None or record.expires_at.timestamp() <= now:
            return None  # unknown, ended, or expired (the expiry sweep ends it with the fan-out)
        if record.factors is None:
            self._on_lost(record.sid)
            return None
        session = SsoSession(
            sid=record.sid, person_id=record.person_id, created_at=int(record.created_at.timestamp()),
            factors=tuple(Factor(m, at) for m, at in record.factors), last_seen=record.last_seen_at.timestamp(),
            clients=record.clients, acting=dict(record.acting),
        )
        expires = self._expiry(session, session.last_seen)
        if expires <= now:
            return None
        self._copies.put(key, session, max(1.0, expires - now))
        # Ended while we restored it? Then its logout may have deleted the copy before we wrote it.
        if self.register.is_ended(session.sid):
            self._copies.delete(key)
            return None
        return session

    def start(self, person_id: str, method: str, *, device: str = "", ip: str | None = None) -> tuple[str, SsoSession]:
        """Begin a fresh session (a new cookie value every sign-in, against session fixation)."""
        now = self._clock()
        session = SsoSession(
            sid=secrets.token_urlsafe(16), person_id=person_id, created_at=int(now),
            factors=(Factor(method, now),), last_seen=now,
        )
        cookie_value = secrets.token_urlsafe(32)
        key = store_key(cookie_value)
        expires = self._expiry(session, now)
        # The register first: a session must never exist without the record logout fans out from.
        self.register.open(SessionRecord(
            sid=session.sid, person_id=person_id, store_key=key, device=device, ip=ip, created_at=_utc(now),
            last_seen_at=_utc(now), expires_at=_utc(expires), clients=(), factors=_pairs(session.factors),
        ))
        self._copies.put(key, session, max(1.0, expires - now))
        return cookie_value, session

    def renew(
        self, cookie_value: str, session: SsoSession, methods: tuple[str, ...], *, ip: str | None
    ) -> tuple[str, SsoSession]:
        """The same person proved `methods` again on this browser: the session goes on (same sid,
        clients, choices) under a new cookie value, with those factors at their new time."""
        now = self._clock()
        fresh = tuple(Factor(m, now) for m in methods)
        updated = replace(
            session, factors=tuple(f for f in session.factors if f.method not in methods) + fresh, last_seen=now)
        new_cookie = secrets.token_urlsafe(32)
        key = store_key(new_cookie)
        expires = self._expiry(updated, now)
        # The new copy first, then the register: a logout that closes the register before the rekey
        # makes the rekey fail (and the copy is removed here); one that closes it after finds the
        # new key in the register and removes the copy itself.
        self._copies.put(key, updated, max(1.0, expires - now))
        if not self.register.rekey(session.sid, store_key=key, last_seen_at=_utc(now), expires_at=_utc(expires),
                                   ip=ip, factors=_pairs(updated.factors)):
            self._copies.delete(key)
            # The session ended meanwhile (elsewhere): the person just proved who they are here.
            return self._start_with(session.person_id, methods, ip=ip)
        self._copies.delete(store_key(cookie_value))
        return new_cookie, updated

    def _start_with(self, person_id: str, methods: tuple[str, ...], *, ip: str | None) -> tuple[str, SsoSession]:
        cookie_value, session = self.start(person_id, methods[0], ip=ip)
        for method in methods[1:]:
            session = self.add_factor(cookie_value, session, method)
        return cookie_value, session

    def _save(self, cookie_value: str, session: SsoSession, written: bool) -> None:
        """Update the store's copy after the register (`written`: the register took the change)."""
        key = store_key(cookie_value)
        if not written:
            self._copies.delete(key)  # the session has ended: no copy may outlive it
            return
        remaining = self._expiry(session, session.last_seen) - self._clock()
        # Only in place: a copy deleted meanwhile (logout) must not be re-created, and a copy the
        # store lost is restored from the register, which already has this change.
        self._copies.replace(key, session, max(1.0, remaining))

    def seen(self, cookie_value: str, session: SsoSession, ip: str | None) -> SsoSession:
        """The session was used: push its idle timeout back (written at most every touch interval)."""
        now = self._clock()
        if now - session.last_seen < self._touch_interval:
            return session
        updated = replace(session, last_seen=now)
        written = self.register.touch(session.sid, last_seen_at=_utc(now), expires_at=_utc(self._expiry(updated, now)),
                                      ip=ip, factors=_pairs(updated.factors), acting=updated.acting)
        self._save(cookie_value, updated, written)
        return updated

    def add_client(
        self, cookie_value: str, session: SsoSession, client_id: str, acting: str | None = None
    ) -> SsoSession:
        """Record that the client received tokens in this session and, when the request was about
        acting for someone, who the person chose to act as there."""
        new_client = client_id not in session.clients
        if not new_client and (acting is None or session.acting.get(client_id) == acting):
            return session
        updated = replace(session, clients=(*session.clients, client_id) if new_client else session.clients)
        if acting is not None:
            updated = replace(updated, acting={**session.acting, client_id: acting})
        self._save(cookie_value, updated, self.register.set_clients(session.sid, updated.clients, updated.acting))
        return updated

    def add_factor(self, cookie_value: str, session: SsoSession, method: str) -> SsoSession:
        """Record a factor just proven in this session (a step-up); a method proven again gets its new time."""
        now = self._clock()
        factors = tuple(f for f in session.factors if f.method != method) + (Factor(method, now),)
        updated = replace(session, factors=factors)
        self._save(cookie_value, updated, self.register.set_factors(session.sid, _pairs(factors)))
        return updated
