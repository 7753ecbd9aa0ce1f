"""The SSO session: one per browser, kept in the ephemeral store behind an opaque cookie.

The cookie carries a random secret; the store key is its SHA-256, so a dump of the store does not
yield usable cookies. The session records who signed in, each factor with its time, and the clients
that received tokens (for logout fan-out). `sid` is a separate public id put in ID tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import orjson

from idp.store import Store
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
    clients: tuple[str, ...] = field(default=())
    # Per client, who the person last chose to act as there: "self" or a mandate id (legal entities).
    acting: dict[str, str] = field(default_factory=dict)

    @property
    def auth_time(self) -> int:
        """Time of the most recent factor: OIDC `auth_time` is when the End-User last authenticated."""
        return int(max(f.at for f in self.factors))

    def proven_factors(self) -> list[ProvenFactor]:
        return [ProvenFactor(f.method, datetime.fromtimestamp(f.at, UTC)) for f in self.factors]


def _key(cookie_value: str) -> str:
    return "sess:" + hashlib.sha256(cookie_value.encode()).hexdigest()


def _ended_key(person_id: str) -> str:
    return f"person-sessions-after:{person_id}"


def _encode(session: SsoSession) -> bytes:
    return orjson.dumps(asdict(session))


def _decode(raw: bytes) -> SsoSession:
    data = orjson.loads(raw)
    return SsoSession(
        sid=data["sid"],
        person_id=data["person_id"],
        created_at=data["created_at"],
        factors=tuple(Factor(**f) for f in data["factors"]),
        clients=tuple(data.get("clients", ())),
        acting=dict(data.get("acting") or {}),
    )


class SessionManager:
    def __init__(self, store: Store, *, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock

    def load(self, cookie_value: str | None) -> SsoSession | None:
        if not cookie_value or len(cookie_value) > 128:
            return None
        raw = self._store.get(_key(cookie_value))
        if not raw:
            return None
        session = _decode(raw)
        ended_before = self._store.get(_ended_key(session.person_id))
        # The first factor's time is the session's start to the sub-second (`created_at` is whole
        # seconds), so a session begun right after `end_all_for` stays valid.
        if ended_before is not None and min(f.at for f in session.factors) < float(ended_before):
            return None
        return session

    def end_all_for(self, person_id: str) -> None:
        """End every session of the person begun before now (the store cannot list them per person)."""
        self._store.set(_ended_key(person_id), repr(self._clock()).encode(), self._ttl)

    def start(self, person_id: str, method: str) -> tuple[str, SsoSession]:
        """Begin a fresh session (a new cookie value every sign-in, against session fixation)."""
        now = self._clock()
        session = SsoSession(
            sid=secrets.token_urlsafe(16), person_id=person_id, created_at=int(now),
            factors=(Factor(method, now),),
        )
        cookie_value = secrets.token_urlsafe(32)
        self._store.set(_key(cookie_value), _encode(session), self._ttl)
        return cookie_value, session

    def _remaining(self, session: SsoSession) -> float:
        return max(1.0, session.created_at + self._ttl - self._clock())

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
        self._store.set(_key(cookie_value), _encode(updated), self._remaining(session))
        return updated

    def add_factor(self, cookie_value: str, session: SsoSession, method: str) -> SsoSession:
        """Record a factor just proven in this session (a step-up); a method proven again gets its new time."""
        now = self._clock()
        factors = tuple(f for f in session.factors if f.method != method) + (Factor(method, now),)
        updated = replace(session, factors=factors)
        self._store.set(_key(cookie_value), _encode(updated), self._remaining(session))
        return updated

    def end(self, cookie_value: str) -> SsoSession | None:
        raw = self._store.take(_key(cookie_value))
        return _decode(raw) if raw else None
