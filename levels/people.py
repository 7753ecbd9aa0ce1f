"""People: the accounts that log in, keyed by an opaque id that is also their public OIDC `sub`."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy import Engine, RowMapping, bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from levels.errors import LevelsError
from levels.iranian_input import InvalidNationalCode, is_valid_national_code, normalize_name
from levels.store_sql import PasswordCredentialRow, PersonRow

STATUSES = frozenset({"active", "locked"})
PROOFING_TIERS = range(1, 4)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class PersonExists(LevelsError, ValueError):
    """A person with this id or national code is already stored."""


class UnknownPerson(LevelsError, LookupError):
    """No person is stored under this id."""


# An active person signs in; a disabled one (an administrator's decision) cannot until enabled.
STATUSES: frozenset[str] = frozenset({"active", "disabled"})


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    national_code: str
    given_name: str
    family_name: str
    birthdate: date | None
    mobile: str | None
    mobile_verified: bool
    proofing_tier: int
    status: str
    created_at: datetime


def new_person(
    national_code: str,
    given_name: str,
    family_name: str,
    *,
    birthdate: date | None = None,
    mobile: str | None = None,
    mobile_verified: bool = False,
    proofing_tier: int = 1,
    now: datetime,
) -> Person:
    """A new active person with a fresh random id; raises ValueError for values that cannot be stored.

    Names are stored as `normalize_name` writes them (Persian ی and ک, not their Arabic look-alikes),
    whoever creates the person: registration, the CLI, an import or demonstration data.
    """
    if not is_valid_national_code(national_code):
        raise InvalidNationalCode("This is not a valid national code.")
    if mobile is not None and not _E164.fullmatch(mobile):
        raise ValueError("mobile must be in E.164 form, e.g. +989121234567")
    if mobile_verified and mobile is None:
        raise ValueError("mobile_verified needs a mobile number")
    if proofing_tier not in PROOFING_TIERS:
        raise ValueError("proofing_tier must be 1, 2 or 3")
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    return Person(
        # Random rather than derived from the national code: `sub` goes to every relying party and
        # must not reveal or let anyone recompute the national ID.
        id=secrets.token_urlsafe(24),
        national_code=national_code,
        given_name=normalize_name(given_name),
        family_name=normalize_name(family_name),
        birthdate=birthdate,
        mobile=mobile,
        mobile_verified=mobile_verified,
        proofing_tier=proofing_tier,
        status="active",
        created_at=now,
    )


class PersonStore(Protocol):
    """Durable person records and their password hashes. Stores values as given; validates nothing."""

    def get(self, person_id: str) -> Person | None:
        """Return the person with this id, or None."""
        ...

    def get_by_national_code(self, code: str) -> Person | None:
        """Return the person with this normalized ten-digit national code, or None."""
        ...

    def add(self, person: Person) -> None:
        """Store a new person; raise `PersonExists` if the id or the national code is taken."""
        ...

    def set_password_hash(self, person_id: str, hash: str, at: datetime) -> None:
        """Create or replace the person's password hash; raise `UnknownPerson` if there is no such person."""
        ...

    def password_hash(self, person_id: str) -> str | None:
        """Return the person's password hash, or None if they have no password (or do not exist)."""
        ...

    def set_mobile(self, person_id: str, mobile: str | None, verified: bool) -> None:
        """Replace the person's mobile number (E.164) and whether it was proven; raise `UnknownPerson`
        if there is no such person."""
        ...


_PEOPLE = PersonRow.__table__
_PASSWORDS = PasswordCredentialRow.__table__
# Built once: sign-in and token refresh look people up on every request.
_BY_ID = select(_PEOPLE).where(_PEOPLE.c.id == bindparam("id"))
_BY_CODE = select(_PEOPLE).where(_PEOPLE.c.national_code == bindparam("code"))
_HASH = select(_PASSWORDS.c.hash).where(_PASSWORDS.c.person_id == bindparam("id"))


class SqlPersonStore:
    """A `PersonStore` on the `people` and `password_credentials` tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, person_id: str) -> Person | None:
        with self._engine.connect() as conn:
            row = conn.execute(_BY_ID, {"id": person_id}).mappings().first()
        return _to_person(row) if row is not None else None

    def get_by_national_code(self, code: str) -> Person | None:
        with self._engine.connect() as conn:
            row = conn.execute(_BY_CODE, {"code": code}).mappings().first()
        return _to_person(row) if row is not None else None

    def add(self, person: Person) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(_PEOPLE).values(
                    id=person.id,
                    national_code=person.national_code,
                    given_name=person.given_name,
                    family_name=person.family_name,
                    birthdate=person.birthdate,
                    mobile=person.mobile,
                    mobile_verified=person.mobile_verified,
                    proofing_tier=person.proofing_tier,
                    status=person.status,
                    created_at=person.created_at.astimezone(UTC),
                ))
        except IntegrityError:
            raise PersonExists(person.id) from None

    def set_password_hash(self, person_id: str, hash: str, at: datetime) -> None:
        # Update-then-insert is portable across SQLite and PostgreSQL; if a concurrent writer
        # inserts first, the retry's update wins, which is what "replace" means anyway.
        for _ in range(2):
            try:
                with self._engine.begin() as conn:
                    changed = conn.execute(
                        update(_PASSWORDS).where(_PASSWORDS.c.person_id == person_id)
                        .values(hash=hash, updated_at=at.astimezone(UTC))
                    ).rowcount
                    if changed:
                        return
                    if conn.execute(select(_PEOPLE.c.id).where(_PEOPLE.c.id == person_id)).first() is None:
                        raise UnknownPerson(person_id)
                    conn.execute(insert(_PASSWORDS).values(
                        person_id=person_id, hash=hash, updated_at=at.astimezone(UTC)
                    ))
                    return
            except IntegrityError:
                continue
        raise UnknownPerson(person_id)

    def set_proofing(
        self, person_id: str, tier: int, given_name: str | None = None, family_name: str | None = None
    ) -> None:
        """Raise the person's proofing tier to `tier` (never lower it) and replace the names given.

        Raises `UnknownPerson` if there is no such person, ValueError for a tier outside 1-3.
        """
        if tier not in PROOFING_TIERS:
            raise ValueError("proofing_tier must be 1, 2 or 3")
        # max() in the statement itself, so a concurrent in-person verification to P3 is never
        # overwritten by a registry check to P2 that read the person earlier.
        values: dict[str, object] = {
            "proofing_tier": case((_PEOPLE.c.proofing_tier < tier, tier), else_=_PEOPLE.c.proofing_tier)
        }
        if given_name is not None:
            values["given_name"] = given_name
        if family_name is not None:
            values["family_name"] = family_name
        self._update(person_id, values)

    def set_mobile(self, person_id: str, mobile: str | None, verified: bool) -> None:
        """Replace the person's mobile number (E.164) and whether it was proven by a one-time code.

        Raises `UnknownPerson` if there is no such person.
        """
        self._update(person_id, {"mobile": mobile, "mobile_verified": verified and mobile is not None})

    def set_status(self, person_id: str, status: str) -> bool:
        """Set the person's status (`STATUSES`); return False if it already was. Raises
        `UnknownPerson`, or ValueError for a status that does not exist."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(sorted(STATUSES))}")
        with self._engine.begin() as conn:
            changed = conn.execute(update(_PEOPLE).where((_PEOPLE.c.id == person_id) & (_PEOPLE.c.status != status))
                                   .values(status=status)).rowcount
            if changed:
                return True
            if conn.execute(select(_PEOPLE.c.id).where(_PEOPLE.c.id == person_id)).first() is None:
                raise UnknownPerson(person_id)
        return False

    def page(self, *, after: str | None = None, limit: int = 50, status: str | None = None,
             code_prefix: str = "") -> list[Person]:
        """People ordered by national code: those after `after` (a national code), at most `limit`,
        of one `status` if given, whose national code starts with `code_prefix`. Read through the
        national code's unique index, so a page costs the same among 23 million people as among ten."""
        query = select(_PEOPLE).order_by(_PEOPLE.c.national_code).limit(max(1, min(limit, 1000)))
        if after:
            query = query.where(_PEOPLE.c.national_code > after)
        if code_prefix:
            # A range of ten-digit codes rather than LIKE: the index serves it, and strings of
            # digits of one length sort the same in every collation.
            query = query.where(_PEOPLE.c.national_code >= code_prefix.ljust(10, "0"),
                                _PEOPLE.c.national_code <= code_prefix.ljust(10, "9"))
        if status is not None:
            query = query.where(_PEOPLE.c.status == status)
        with self._engine.connect() as conn:
            return [_to_person(row) for row in conn.execute(query).mappings()]

    def _update(self, person_id: str, values: dict[str, object]) -> None:
        with self._engine.begin() as conn:
            changed = conn.execute(update(_PEOPLE).where(_PEOPLE.c.id == person_id).values(values)).rowcount
        if not changed:
            raise UnknownPerson(person_id)

    def password_hash(self, person_id: str) -> str | None:
        with self._engine.connect() as conn:
            value: str | None = conn.execute(_HASH, {"id": person_id}).scalar_one_or_none()
        return value


def _to_person(r: RowMapping) -> Person:
    created_at: datetime = r["created_at"]
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return Person(
        id=r["id"],
        national_code=r["national_code"],
        given_name=r["given_name"],
        family_name=r["family_name"],
        birthdate=r["birthdate"],
        mobile=r["mobile"],
        mobile_verified=bool(r["mobile_verified"]),
        proofing_tier=r["proofing_tier"],
        status=r["status"],
        created_at=created_at,
    )
