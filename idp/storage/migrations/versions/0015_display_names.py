"""clients: Persian and English display names and the pages people may open about the client;
services: Persian and English display names

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_CLIENT_URIS = ("logo_uri", "client_uri", "policy_uri", "tos_uri")


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_fa", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))
        for column in _CLIENT_URIS:
            batch_op.add_column(sa.Column(column, sa.String(length=2000), nullable=True))
    with op.batch_alter_table("client_services", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_fa", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("client_services", schema=None) as batch_op:
        batch_op.drop_column("name_en")
        batch_op.drop_column("name_fa")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        for column in reversed(_CLIENT_URIS):
            batch_op.drop_column(column)
        batch_op.drop_column("name_en")
        batch_op.drop_column("name_fa")
