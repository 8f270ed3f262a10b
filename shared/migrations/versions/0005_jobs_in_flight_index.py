"""partial index of each tenant's queued and running jobs (the tenant in-flight limits)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IN_FLIGHT_SQL = "status IN ('queued', 'running')"


def upgrade() -> None:
    op.create_index(
        "ix_jobs_tenant_in_flight",
        "jobs",
        ["tenant_id"],
        unique=False,
        postgresql_where=sa.text(IN_FLIGHT_SQL),
        sqlite_where=sa.text(IN_FLIGHT_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_tenant_in_flight", table_name="jobs")
