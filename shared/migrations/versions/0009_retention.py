"""Per-tenant retention, purge receipts and the objects each purge removed (as key hashes)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-12 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_index("ix_jobs_tenant_finished", "jobs", ["tenant_id", "finished_at"])
    op.create_table(
        "purge_receipts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objects_deleted", sa.Integer(), nullable=False),
        sa.Column("jobs_deleted", sa.Integer(), nullable=False),
        sa.Column("pages_deleted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_purge_receipts_tenant_requested",
        "purge_receipts",
        ["tenant_id", "requested_at", "id"],
    )
    op.create_index("ix_purge_receipts_resource", "purge_receipts", ["resource_id"])
    op.create_table(
        "purged_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receipt_id", sa.String(length=36), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["receipt_id"], ["purge_receipts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_purged_objects_receipt_id", "purged_objects", ["receipt_id"])


def downgrade() -> None:
    op.drop_index("ix_purged_objects_receipt_id", table_name="purged_objects")
    op.drop_table("purged_objects")
    op.drop_index("ix_purge_receipts_resource", table_name="purge_receipts")
    op.drop_index("ix_purge_receipts_tenant_requested", table_name="purge_receipts")
    op.drop_table("purge_receipts")
    op.drop_index("ix_jobs_tenant_finished", table_name="jobs")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
