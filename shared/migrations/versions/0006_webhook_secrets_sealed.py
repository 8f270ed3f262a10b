"""webhook secrets sealed at rest: room for the sealed form (rows are sealed on first use)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 13:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=100), type_=sa.String(length=255)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_secrets", schema=None) as batch_op:
        batch_op.alter_column(
            "secret", existing_type=sa.String(length=255), type_=sa.String(length=100)
        )
