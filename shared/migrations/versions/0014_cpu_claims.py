"""The CPU worker splitting a job or reading a batch's archive, and since when (fast reclaim
of a dead CPU worker's splits and ingests)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("jobs", "batches"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("claimed_by", sa.String(length=200), nullable=True))
            batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("batches", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("claimed_at")
            batch.drop_column("claimed_by")
