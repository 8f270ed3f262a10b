"""Line corrections (every version of a corrected line) and pages marked reviewed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 21:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=200), nullable=True))
    op.create_table(
        "line_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("page_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("line_index", sa.Integer(), nullable=False),
        sa.Column("text_before", sa.Text(), nullable=False),
        sa.Column("text_after", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("key_id", sa.String(length=36), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_line_corrections_page_line", "line_corrections", ["page_id", "line_index", "id"]
    )
    op.create_index("ix_line_corrections_job_id", "line_corrections", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_line_corrections_job_id", table_name="line_corrections")
    op.drop_index("ix_line_corrections_page_line", table_name="line_corrections")
    op.drop_table("line_corrections")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("reviewed_at")
