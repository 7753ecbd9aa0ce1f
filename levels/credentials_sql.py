"""Durable second-factor credentials: TOTP secrets (encrypted at rest) and hashed recovery codes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import (
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from levels.people import UnknownPerson
from levels.store_sql import PersonRow

Cipher = Callable[[bytes, bytes], bytes]
"""`(data, aad) -> data`: AES-GCM encryption or decryption, bound to the row by `aad`."""


class Base(DeclarativeBase):
    pass


class TotpCredentialRow(Base):
    __tablename__ = "totp_credentials"

    # A Column object rather than "people.id": the people table lives in another MetaData.
    person_id: Mapped[str] = mapped_column(
        String(64), ForeignKey(PersonRow.__table__.c.id, ondelete="CASCADE"), primary_key=True
    )
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    last_counter: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RecoveryCodeRow(Base):
    __tablename__ = "recovery_codes"

    person_id: Mapped[str] = mapped_column(
        String(64), ForeignKey(PersonRow.__table__.c.id, ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CredentialStore(Protocol):
    """A person's TOTP secret and recovery codes. Stores values as given; validates nothing."""

    def set_totp(self, person_id: str, secret: str, at: datetime) -> None:
        """Create or replace the TOTP secret, forgetting the last used step; `UnknownPerson` if no such person."""
        ...

    def totp_secret(self, person_id: str) -> str | None:
        """The person's TOTP secret (base32), or None if they have none."""
        ...

    def totp_last_counter(self, person_id: str) -> int | None:
        """The last time step accepted for the person, or None if none was (or no TOTP is set)."""
        ...

    def advance_totp_counter(self, person_id: str, counter: int, at: datetime) -> bool:
        """Record `counter` as used only if it is later than the stored one, atomically.

        True if recorded; False if a step at or after it was already used (a replay, possibly by a
        concurrent request in another process) or the person has no TOTP.
        """
        ...

    def delete_totp(self, person_id: str) -> None:
        """Remove the TOTP secret; no error if there is none."""
        ...

    def has_totp(self, person_id: str) -> bool:
        """True if the person has a TOTP secret."""
        ...

    def replace_recovery_codes(self, person_id: str, hashes: Iterable[str], at: datetime) -> None:
        """Replace all the person's recovery codes with these hashes, in one transaction."""
        ...

    def use_recovery_code(self, person_id: str, code_hash: str, at: datetime) -> bool:
        """Mark an unused code as used, atomically; True for exactly one caller, False otherwise."""
        ...

    def remaining_recovery_codes(self, person_id: str) -> int:
        """How many of the person's recovery codes are still unused."""
        ...


_TOTP = TotpCredentialRow.__table__
_CODES = RecoveryCodeRow.__table__
_TOTP_BY_ID = select(_TOTP.c.secret_encrypted).where(_TOTP.c.person_id == bindparam("id"))
_COUNTER_BY_ID = select(_TOTP.c.last_counter).where(_TOTP.c.person_id == bindparam("id"))
_ADVANCE = (
    update(_TOTP)
    .where(_TOTP.c.person_id == bindparam("id"))
    .where(or_(_TOTP.c.last_counter.is_(None), _TOTP.c.last_counter < bindparam("counter")))
    .values(last_counter=bindparam("counter"), last_used_at=bindparam("at"))
)
_USE_CODE = (
    update(_CODES)
    .where(_CODES.c.person_id == bindparam("id"))
    .where(_CODES.c.code_hash == bindparam("hash"))
    .where(_CODES.c.used_at.is_(None))
    .values(used_at=bindparam("at"))
)


class SqlCredentialStore:
    """A `CredentialStore` on the `totp_credentials` and `recovery_codes` tables.

    `encrypt`/`decrypt` are given the person id as associated data, so a secret copied onto another
    person's row does not decrypt.
    """

    def __init__(self, engine: Engine, encrypt: Cipher, decrypt: Cipher) -> None:
        self._engine = engine
        self._encrypt = encrypt
        self._decrypt = decrypt

    def set_totp(self, person_id: str, secret: str, at: datetime) -> None:
        blob = self._encrypt(secret.encode("ascii"), person_id.encode())
        values = {"secret_encrypted": blob, "last_counter": None, "created_at": at.astimezone(UTC),
                  "last_used_at": None}
        # Update-then-insert is portable across SQLite and PostgreSQL; if a concurrent writer
        # inserts first, the retry's update wins, which is what "replace" means anyway.
        for _ in range(2):
            try:
                with self._engine.begin() as conn:
                    if conn.execute(update(_TOTP).where(_TOTP.c.person_id == person_id).values(**values)).rowcount:
                        return
                    conn.execute(insert(_TOTP).values(person_id=person_id, **values))
                    return
            except IntegrityError:
                if not self._person_exists(person_id):
                    raise UnknownPerson(person_id) from None
        raise UnknownPerson(person_id)

    def totp_secret(self, person_id: str) -> str | None:
        with self._engine.connect() as conn:
            blob: bytes | None = conn.execute(_TOTP_BY_ID, {"id": person_id}).scalar_one_or_none()
        return None if blob is None else self._decrypt(bytes(blob), person_id.encode()).decode("ascii")

    def totp_last_counter(self, person_id: str) -> int | None:
        with self._engine.connect() as conn:
            value: int | None = conn.execute(_COUNTER_BY_ID, {"id": person_id}).scalar_one_or_none()
        return value

    def advance_totp_counter(self, person_id: str, counter: int, at: datetime) -> bool:
        with self._engine.begin() as conn:
            changed = conn.execute(_ADVANCE, {"id": person_id, "counter": counter, "at": at.astimezone(UTC)})
        return changed.rowcount == 1

    def delete_totp(self, person_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_TOTP).where(_TOTP.c.person_id == person_id))

    def has_totp(self, person_id: str) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(_TOTP.c.person_id).where(_TOTP.c.person_id == person_id)).first() is not None

    def replace_recovery_codes(self, person_id: str, hashes: Iterable[str], at: datetime) -> None:
        rows = [{"person_id": person_id, "code_hash": h, "created_at": at.astimezone(UTC), "used_at": None}
                for h in dict.fromkeys(hashes)]
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(_CODES).where(_CODES.c.person_id == person_id))
                if rows:
                    conn.execute(insert(_CODES), rows)
        except IntegrityError:
            if not self._person_exists(person_id):
                raise UnknownPerson(person_id) from None
            raise

    def use_recovery_code(self, person_id: str, code_hash: str, at: datetime) -> bool:
        with self._engine.begin() as conn:
            changed = conn.execute(_USE_CODE, {"id": person_id, "hash": code_hash, "at": at.astimezone(UTC)})
        return changed.rowcount == 1

    def remaining_recovery_codes(self, person_id: str) -> int:
        query = select(func.count()).select_from(_CODES).where(
            _CODES.c.person_id == person_id, _CODES.c.used_at.is_(None)
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _person_exists(self, person_id: str) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(PersonRow.id).where(PersonRow.id == person_id)).first() is not None
