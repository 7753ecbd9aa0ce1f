"""A `PeopleImportStore` on the `people` table: batches read and written with a few statements each,
below the one-person-at-a-time `SqlPersonStore`.

On PostgreSQL a batch's new people go in with one `COPY` (an import of a million people is bound by
per-row statements otherwise) and the stored ones are read with one array parameter; a conflict
still fails the whole transaction, so the batch is re-read and re-planned exactly as on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import cast

from sqlalchemy import Connection, Engine, Table, any_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from levels.people import Person
from levels.people_import import BatchPlan, StoredPerson
from levels.store_sql import PersonRow

_PEOPLE = cast(Table, PersonRow.__table__)
_STORED = select(
    _PEOPLE.c.id, _PEOPLE.c.national_code, _PEOPLE.c.given_name, _PEOPLE.c.family_name, _PEOPLE.c.birthdate,
    _PEOPLE.c.mobile, _PEOPLE.c.mobile_verified, _PEOPLE.c.proofing_tier,
)
_EXISTING = _STORED.where(_PEOPLE.c.national_code.in_(bindparam("codes", expanding=True)))
# One array parameter instead of a thousand placeholders the driver has to split and bind.
_EXISTING_PG = _STORED.where(
    _PEOPLE.c.national_code == any_(bindparam("codes", type_=postgresql.ARRAY(_PEOPLE.c.national_code.type)))
)
_COLUMNS = ("id", "national_code", "given_name", "family_name", "birthdate", "mobile", "mobile_verified",
            "proofing_tier", "status", "created_at")
_COPY = f"COPY people ({', '.join(_COLUMNS)}) FROM STDIN"
_UPDATE = update(_PEOPLE).where(_PEOPLE.c.id == bindparam("b_id")).values(
    given_name=bindparam("b_given_name"), family_name=bindparam("b_family_name"),
    birthdate=bindparam("b_birthdate"), mobile=bindparam("b_mobile"),
    mobile_verified=bindparam("b_mobile_verified"), proofing_tier=bindparam("b_proofing_tier"),
)


class SqlPeopleImport:
    """Import batches on the `people` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    def write_batch(
        self, national_codes: Sequence[str], plan: Callable[[Mapping[str, StoredPerson]], BatchPlan]
    ) -> BatchPlan:
        # One retry: a person signing up between our select and insert makes the batch collide.
        for attempt in range(2):
            try:
                with self._engine.begin() as conn:
                    existing = {
                        r["national_code"]: StoredPerson(
                            id=r["id"], given_name=r["given_name"], family_name=r["family_name"],
                            birthdate=r["birthdate"], mobile=r["mobile"], mobile_verified=bool(r["mobile_verified"]),
                            proofing_tier=r["proofing_tier"],
                        )
                        for r in conn.execute(_EXISTING_PG if self._postgres else _EXISTING,
                                              {"codes": list(national_codes)}).mappings()
                    }
                    written = plan(existing)
                    if written.inserts:
                        (_copy_people if self._postgres else _insert_people)(conn, written.inserts)
                    if written.updates:
                        conn.execute(_UPDATE, [{
                            "b_id": p.id, "b_given_name": p.given_name, "b_family_name": p.family_name,
                            "b_birthdate": p.birthdate, "b_mobile": p.mobile,
                            "b_mobile_verified": p.mobile_verified, "b_proofing_tier": p.proofing_tier,
                        } for p in written.updates])
                return written
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _insert_people(conn: Connection, people: Sequence[Person]) -> None:
    conn.execute(insert(_PEOPLE), [{
        "id": p.id, "national_code": p.national_code, "given_name": p.given_name,
        "family_name": p.family_name, "birthdate": p.birthdate, "mobile": p.mobile,
        "mobile_verified": p.mobile_verified, "proofing_tier": p.proofing_tier,
        "status": p.status, "created_at": p.created_at.astimezone(UTC),
    } for p in people])


def _copy_people(conn: Connection, people: Sequence[Person]) -> None:
    """The same rows as `_insert_people`, with PostgreSQL's COPY on the transaction's connection (psycopg)."""
    try:
        with conn.connection.cursor() as cursor, cursor.copy(_COPY) as copy:  # type: ignore[attr-defined]
            for p in people:
                copy.write_row((p.id, p.national_code, p.given_name, p.family_name, p.birthdate, p.mobile,
                                p.mobile_verified, p.proofing_tier, p.status, p.created_at.astimezone(UTC)))
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        # The driver's own error (COPY bypasses SQLAlchemy): raised as the statements' would be.
        raise IntegrityError(_COPY, None, exc) from exc
