"""Content hashes of uploaded files, duplicate_of on jobs, on_duplicate on batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Batches made before duplicate detection existed processed every member.
EXISTING_BATCHES_POLICY = "process"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.String(length=36), nullable=True))
        batch_op.create_index(
            "ix_jobs_tenant_content", ["tenant_id", "content_sha256"], unique=False
        )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "on_duplicate",
                sa.String(length=16),
                server_default=EXISTING_BATCHES_POLICY,
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("on_duplicate")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_tenant_content")
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("content_sha256")
