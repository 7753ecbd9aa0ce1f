"""The `passkey_credentials` table and `SqlPasskeyStore`, the `PasskeyStore` on it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    LargeBinary,
    RowMapping,
    String,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from levels.authenticators.passkey import (
    MAX_CREDENTIAL_ID_LENGTH,
    MAX_NAME_LENGTH,
    PasskeyCredential,
    PasskeyExists,
)
from levels.store_sql import Base


class PasskeyCredentialRow(Base):
    __tablename__ = "passkey_credentials"

    credential_id: Mapped[str] = mapped_column(String(MAX_CREDENTIAL_ID_LENGTH), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The counter is an unsigned 32-bit number: it outgrows a signed INTEGER.
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[list[str]] = mapped_column(JSON)
    aaguid: Mapped[str] = mapped_column(String(36))
    backed_up: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(MAX_NAME_LENGTH), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# From the metadata rather than `__table__`, which is typed as a FromClause that insert/update refuse.
_TABLE = Base.metadata.tables[PasskeyCredentialRow.__tablename__]


class SqlPasskeyStore:
    """A `PasskeyStore` on the `passkey_credentials` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, credential: PasskeyCredential) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(_TABLE).values(
                    credential_id=credential.credential_id,
                    person_id=credential.person_id,
                    public_key=credential.public_key,
                    sign_count=credential.sign_count,
                    transports=list(credential.transports),
                    aaguid=credential.aaguid,
                    backed_up=credential.backed_up,
                    name=credential.name,
                    created_at=credential.created_at.astimezone(UTC),
                    last_used_at=None if credential.last_used_at is None else credential.last_used_at.astimezone(UTC),
                ))
        except IntegrityError:
            raise PasskeyExists(credential.credential_id) from None

    def get(self, credential_id: str) -> PasskeyCredential | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(_TABLE).where(_TABLE.c.credential_id == credential_id)).mappings().first()
        return _to_credential(row) if row is not None else None

    def for_person(self, person_id: str) -> list[PasskeyCredential]:
        query = select(_TABLE).where(_TABLE.c.person_id == person_id).order_by(
            _TABLE.c.created_at, _TABLE.c.credential_id
        )
        with self._engine.connect() as conn:
            return [_to_credential(r) for r in conn.execute(query).mappings()]

    def record_use(self, credential_id: str, sign_count: int, backed_up: bool, at: datetime) -> bool:
        forward = _TABLE.c.sign_count == 0 if sign_count == 0 else _TABLE.c.sign_count < sign_count
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(_TABLE).where(_TABLE.c.credential_id == credential_id, forward)
                .values(sign_count=sign_count, backed_up=backed_up, last_used_at=at.astimezone(UTC))
            ).rowcount
        return bool(changed)

    def remove(self, person_id: str, credential_id: str) -> bool:
        with self._engine.begin() as conn:
            deleted = conn.execute(
                delete(_TABLE).where(_TABLE.c.credential_id == credential_id, _TABLE.c.person_id == person_id)
            ).rowcount
        return bool(deleted)


def _utc(value: datetime) -> datetime:
    # SQLite has no time zone type and hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _to_credential(r: RowMapping) -> PasskeyCredential:
    last_used_at: datetime | None = r["last_used_at"]
    return PasskeyCredential(
        credential_id=r["credential_id"],
        person_id=r["person_id"],
        public_key=bytes(r["public_key"]),
        sign_count=r["sign_count"],
        transports=tuple(r["transports"]),
        aaguid=r["aaguid"],
        backed_up=bool(r["backed_up"]),
        name=r["name"],
        created_at=_utc(r["created_at"]),
        last_used_at=None if last_used_at is None else _utc(last_used_at),
    )
