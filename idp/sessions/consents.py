"""What a person allowed each client to receive, and when the consent page must ask.

Consent is remembered per person and client as a set of scopes: a later request for the same or
fewer scopes does not ask again, a request for more does (and the grant grows to the union).
Trusted clients (government portals, `require_consent=False`) never ask unless `prompt=consent`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from clients.models import Client
from idp.storage.tables import ConsentRow
from levels.clock import utcnow

__all__ = ["VERIFIED_CLAIMS", "Consent", "ConsentStore", "SqlConsentStore", "needs_consent"]

# Not a scope, but released on request through the `claims` parameter whatever the scopes; it is
# remembered alongside them so that a later request adding it asks again.
VERIFIED_CLAIMS = "verified_claims"

_TABLE = ConsentRow.__table__
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Consent:
    """One client's standing permission from one person."""

    client_id: str
    scopes: frozenset[str]
    granted_at: datetime


class ConsentStore(Protocol):
    """What each person allowed each client to receive, durable."""

    def granted(self, person_id: str, client_id: str) -> frozenset[str]:
        """The scopes the person allowed the client to receive; empty if none."""
        ...

    def grant(self, person_id: str, client_id: str, scopes: Iterable[str]) -> frozenset[str]:
        """Add `scopes` to what the person allowed the client (concurrent grants all survive);
        return the whole grant now stored."""
        ...

    def withdraw(self, person_id: str, client_id: str) -> bool:
        """Forget the person's consent for the client; False if there was none."""
        ...

    def for_person(self, person_id: str) -> list[Consent]:
        """Every consent the person gave, ordered by client_id."""
        ...


class SqlConsentStore:
    """Consents in the `consents` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._clock = clock

    def granted(self, person_id: str, client_id: str) -> frozenset[str]:
        """The scopes the person allowed the client to receive; empty if none."""
        with self._engine.connect() as conn:
            scopes = conn.execute(
                select(_TABLE.c.scopes).where(_TABLE.c.person_id == person_id, _TABLE.c.client_id == client_id)
            ).scalar_one_or_none()
        return frozenset(scopes or ())

    def grant(self, person_id: str, client_id: str, scopes: Iterable[str]) -> frozenset[str]:
        """Add `scopes` to what the person allowed the client; return the whole grant now stored."""
        wanted = frozenset(scopes)
        now = self._clock()
        where = (_TABLE.c.person_id == person_id, _TABLE.c.client_id == client_id)
        # Read-merge-write under a row lock (PostgreSQL; SQLite has one writer anyway) so two
        # grants at once both survive. If another writer inserts the row between our read and our
        # insert, the primary key refuses ours and the retry merges into theirs.
        for _ in range(3):
            try:
                with self._engine.begin() as conn:
                    stored = conn.execute(select(_TABLE.c.scopes).where(*where).with_for_update()).first()
                    if stored is None:
                        merged = wanted
                        conn.execute(insert(_TABLE).values(
                            person_id=person_id, client_id=client_id, scopes=sorted(merged), granted_at=now))
                    else:
                        merged = wanted | frozenset(stored[0] or ())
                        conn.execute(update(_TABLE).where(*where).values(scopes=sorted(merged), granted_at=now))
                    return merged
            except IntegrityError:
                continue
        raise RuntimeError(f"could not record the consent of {person_id} for {client_id}")

    def withdraw(self, person_id: str, client_id: str) -> bool:
        """Forget the person's consent for the client (it asks again next time); False if there was none."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(_TABLE).where(_TABLE.c.person_id == person_id, _TABLE.c.client_id == client_id))
        return result.rowcount > 0

    def for_person(self, person_id: str) -> list[Consent]:
        """Every consent the person gave, ordered by client_id (for the account page)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_TABLE.c.client_id, _TABLE.c.scopes, _TABLE.c.granted_at)
                .where(_TABLE.c.person_id == person_id).order_by(_TABLE.c.client_id)
            ).all()
        return [Consent(r.client_id, frozenset(r.scopes or ()), _aware(r.granted_at)) for r in rows]


def needs_consent(
    client: Client, requested_scopes: Iterable[str], granted: Set[str], prompts: Collection[str],
    consented_in_this_request: bool,
) -> bool:
    """Whether the consent page must be shown before the authorization goes on.

    `prompt=consent` always asks (OIDC Core §3.1.2.1), even a trusted client, but only once per
    authorization request. Otherwise only clients requiring consent ask, and only for scopes the
    person has not already allowed them.
    """
    if consented_in_this_request:
        return False
    if "consent" in prompts:
        return True
    return client.require_consent and not frozenset(requested_scopes) <= granted


def _aware(value: datetime) -> datetime:
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
