"""Which index serves each lookup of sign-in, refresh and userinfo, shown with EXPLAIN, and how the
tables were really read during the measured requests (PostgreSQL's per-table scan counters).

Each lookup is explained twice: as the planner chooses at the data's size, and with sequential scans
disabled. The second shows an index exists for the predicate: without one PostgreSQL still scans
the table (and says so), which is how a missing index would show up here. Tables that hold a
handful of rows in the benchmark (passwords of the pool, refresh tokens) are read sequentially by
choice at that size; the counters show the million-row tables never were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

# name, statement, the sample values it needs ("person_id", "national_code", "token_hash", ...)
LOOKUPS: tuple[tuple[str, str], ...] = (
    ("person by national code (sign-in)", "SELECT * FROM people WHERE national_code = :national_code"),
    ("person by id (userinfo, token claims)", "SELECT * FROM people WHERE id = :person_id"),
    ("password hash by person", "SELECT hash FROM password_credentials WHERE person_id = :person_id"),
    ("authenticator app by person", "SELECT * FROM totp_credentials WHERE person_id = :person_id"),
    ("passkeys by person", "SELECT * FROM passkey_credentials WHERE person_id = :person_id"),
    ("latest proofing by person",
     "SELECT * FROM proofing_records WHERE person_id = :person_id ORDER BY verified_at DESC LIMIT 1"),
    ("mandates by national code", "SELECT * FROM representations WHERE national_code = :national_code"),
    ("consent by person and client",
     "SELECT * FROM consents WHERE person_id = :person_id AND client_id = :client_id"),
    ("refresh token by hash (with the person's status)",
     "SELECT r.*, p.status FROM refresh_tokens r LEFT JOIN people p ON p.id = r.person_id"
     " WHERE r.token_hash = :token_hash"),
    ("mark a refresh token used",
     "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = :token_hash AND used_at IS NULL"),
    ("refresh tokens of a family (reuse detection)",
     "SELECT access_jti FROM refresh_tokens WHERE family_id = :family_id"),
    ("SSO session by cookie hash", "SELECT * FROM sso_sessions WHERE store_key = :store_key"),
    ("SSO session by sid", "SELECT * FROM sso_sessions WHERE sid = :sid"),
    ("open SSO sessions of a person",
     "SELECT * FROM sso_sessions WHERE person_id = :person_id AND ended_at IS NULL"),
    ("access-token revocation", "SELECT * FROM access_token_revocations WHERE key = :revocation_key"),
)
BIG_TABLES = ("people", "sso_sessions", "refresh_tokens", "password_credentials", "audit_events")


@dataclass(frozen=True, slots=True)
class Explained:
    lookup: str
    chosen: str  # the plan's scan nodes as the planner picks them, e.g. "Index Scan on people_pkey"
    with_index: str  # the same with sequential scans disabled
    index_found: bool


def sample_values(engine: Engine, person_id: str, national_code: str, client_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        token = conn.execute(text("SELECT token_hash, family_id FROM refresh_tokens LIMIT 1")).first()
        session = conn.execute(text("SELECT sid, store_key FROM sso_sessions LIMIT 1")).first()
    return {
        "person_id": person_id, "national_code": national_code, "client_id": client_id,
        "token_hash": token[0] if token else "x" * 64, "family_id": token[1] if token else "x",
        "sid": session[0] if session else "x", "store_key": session[1] if session else "x",
        "revocation_key": "jti:" + "x" * 22,
    }


def explain_all(engine: Engine, values: dict[str, str]) -> list[Explained]:
    out = []
    with engine.connect() as conn:
        for name, sql in LOOKUPS:
            chosen = _scans(_plan(conn, sql, values))
            conn.execute(text("SET enable_seqscan = off"))
            forced = _scans(_plan(conn, sql, values))
            conn.execute(text("RESET enable_seqscan"))
            out.append(Explained(name, ", ".join(chosen), ", ".join(forced),
                                 not any(s.startswith("Seq Scan") for s in forced)))
        conn.rollback()
    return out


def _plan(conn: Connection, sql: str, values: dict[str, str]) -> dict[str, Any]:
    raw = conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), values).scalar_one()
    document = raw if isinstance(raw, list) else json.loads(raw)
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


def _scans(node: dict[str, Any]) -> list[str]:
    """The nodes that read a table, e.g. "Index Scan on people_national_code_key", depth first."""
    found = []
    kind = node.get("Node Type", "")
    if "Scan" in kind:
        where = node.get("Index Name") or node.get("Relation Name") or "?"
        found.append(f"{kind} on {where}")
    for child in node.get("Plans", []):
        found.extend(_scans(child))
    return found


def table_counters(engine: Engine) -> dict[str, dict[str, int]]:
    """Per table: sequential scans, rows they read, index scans and live rows, as PostgreSQL counts them."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        rows = conn.execute(text(
            "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), n_live_tup FROM pg_stat_user_tables"
        )).all()
    return {r[0]: {"seq_scan": r[1], "seq_tup_read": r[2], "idx_scan": r[3], "live_rows": r[4]} for r in rows}


def counter_delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    out = {}
    for table, now in after.items():
        then = before.get(table, {})
        delta = {k: v - then.get(k, 0) for k, v in now.items() if k != "live_rows"}
        if any(delta.values()):
            out[table] = delta | {"live_rows": now["live_rows"]}
    return out
