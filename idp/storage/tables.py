"""Durable tables owned by the web layer: refresh tokens, consents, the audit log, the register of SSO
sessions, the back-channel logout outbox, access-token revocations and used client-assertion ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class RefreshTokenRow(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    scope: Mapped[str] = mapped_column(String(2000))
    # acr, amr, auth_time and other facts proven at the original authentication; never raised later.
    auth: Mapped[dict[str, object]] = mapped_column(JSON)
    access_jti: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Indexed so that expired tokens (used, revoked or not) are deleted in batches (`prune`).
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ConsentRow(Base):
    __tablename__ = "consents"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEventRow(Base):
    """One audit event. `chain`, `seq`, `prev_hash` and `hash` place it in one of the hash chains
    (`idp.audit`); they are empty only for events written before the chains existed."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_person_at", "person_id", "at"),
                      Index("ux_audit_events_chain_seq", "chain", "seq", unique=True))

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, object]] = mapped_column(JSON)
    chain: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditChainRow(Base):
    """The head of one audit hash chain: its last sequence number and hash. A writer locks this row
    for the length of its transaction, so the events of one chain are written one after another."""

    __tablename__ = "audit_chains"

    chain: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SsoSessionRow(Base):
    """The truth of an SSO session: what the citizen sees on their account page, what the expiry sweep
    and logout fan-out work from, and everything needed to restore the session when the ephemeral
    store (which holds a copy for speed) loses it."""

    __tablename__ = "sso_sessions"
    __table_args__ = (Index("ix_sso_sessions_open_expiry", "ended_at", "expires_at"),)

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    store_key: Mapped[str] = mapped_column(String(80), unique=True)  # the store key: a hash of the cookie
    device: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The earlier of last_seen_at + idle timeout and created_at + absolute timeout.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    clients: Mapped[list[str]] = mapped_column(JSON)
    # [{"method": amr, "at": epoch seconds}, ...]; NULL for sessions opened before it was kept here.
    factors: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)
    # Per client, who the person chose to act as there ("self" or a mandate id).
    acting: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


class LogoutDeliveryRow(Base):
    """One OIDC Back-Channel Logout notification to one client, kept until delivered or given up."""

    __tablename__ = "logout_deliveries"
    __table_args__ = (Index("ix_logout_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    client_id: Mapped[str] = mapped_column(String(128))
    uri: Mapped[str] = mapped_column(String(2000))
    sid: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    jti: Mapped[str] = mapped_column(String(64), unique=True)  # the same on every attempt, so RPs can dedupe
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AccessTokenRevocationRow(Base):
    """A revoked access token ("jti:<jti>") or every access token of an ended session ("sid:<sid>"),
    kept until the last token it covers has expired, then pruned."""

    __tablename__ = "access_token_revocations"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class UsedClientAssertionRow(Base):
    """A client assertion already presented (RFC 7523 §3 item 7): the primary key makes the first
    of concurrent uses win at the database; kept until the assertion has expired, then pruned."""

    __tablename__ = "used_client_assertions"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of client id and jti
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
