"""exchange permissions: which client may exchange a person's token for one to call which client's service

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_permissions",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("audience", sa.String(length=128), nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["audience", "scope"], ["client_services.client_id", "client_services.scope"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("client_id", "audience", "scope"),
    )


def downgrade() -> None:
    op.drop_table("exchange_permissions")
