"""clients: pairwise subjects, pushed requests, DPoP and security profiles; services: a profile

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_type", sa.String(length=16), nullable=False, server_default="public"))
        batch_op.add_column(sa.Column("sector_identifier_uri", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column(
            "require_pushed_authorization_requests", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column(
            "dpop_bound_access_tokens", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("profile", sa.String(length=16), nullable=True))
    with op.batch_alter_table("client_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client_services", schema=None) as batch_op:
        batch_op.drop_column("profile")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("profile")
        batch_op.drop_column("dpop_bound_access_tokens")
        batch_op.drop_column("require_pushed_authorization_requests")
        batch_op.drop_column("sector_identifier_uri")
        batch_op.drop_column("subject_type")
