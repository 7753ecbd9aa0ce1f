"""audit_events: each event's place in a hash chain (chain, sequence, previous hash, hash);
audit_chains: the head of each chain

Events already in the table stay outside the chains (their chain columns empty): `idp audit
verify` counts them and checks that none was written after the first chained event. Hashing them
here would take a long lock on a large table and would only vouch for whatever they say today.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Kept here rather than imported: a migration must not change when the code does. Equal to
# `idp.audit.CHAINS` and `idp.audit.GENESIS`.
_CHAINS = 16
_GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ux_audit_events_chain_seq", ["chain", "seq"], unique=True)
    chains = op.create_table(
        "audit_chains",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    op.bulk_insert(chains, [{"chain": n, "seq": 0, "hash": _GENESIS} for n in range(_CHAINS)])


def downgrade() -> None:
    op.drop_table("audit_chains")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ux_audit_events_chain_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("chain")
