"""durable revocations, used client-assertion ids, restorable SSO sessions

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_token_revocations",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("access_token_revocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_revocations_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "used_client_assertions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("used_client_assertions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_client_assertions_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        # NULL for sessions opened before the register held them whole: those cannot be restored.
        batch_op.add_column(sa.Column("factors", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("acting", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.drop_column("acting")
        batch_op.drop_column("factors")
    with op.batch_alter_table("used_client_assertions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_used_client_assertions_expires_at"))
    op.drop_table("used_client_assertions")
    with op.batch_alter_table("access_token_revocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_revocations_expires_at"))
    op.drop_table("access_token_revocations")
