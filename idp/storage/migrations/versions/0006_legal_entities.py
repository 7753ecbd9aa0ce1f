"""legal entities and the representations of people who act for them

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "legal_entities",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("national_id", sa.String(length=11), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("national_id"),
    )
    op.create_table(
        "representations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("national_code", sa.String(length=10), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("powers", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=True),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["legal_entities.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("representations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_representations_entity_id"), ["entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_representations_national_code"), ["national_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_representations_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_representations_granted_by"), ["granted_by"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("representations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_representations_granted_by"))
        batch_op.drop_index(batch_op.f("ix_representations_parent_id"))
        batch_op.drop_index(batch_op.f("ix_representations_national_code"))
        batch_op.drop_index(batch_op.f("ix_representations_entity_id"))
    op.drop_table("representations")
    op.drop_table("legal_entities")
