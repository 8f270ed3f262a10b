"""Datasets, training runs and the tenant's trained models; a model choice per job and batch,
and a default model of each kind per tenant

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=512), nullable=True),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("from_batch_id", sa.String(length=36), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("ready_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_datasets_tenant_created", "datasets", ["tenant_id", "created_at"])
    op.create_table(
        "trainings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=True),
        sa.Column("validation_dataset_id", sa.String(length=36), nullable=True),
        sa.Column("validation_fraction", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("base_model", sa.String(length=200), nullable=True),
        sa.Column("max_epochs", sa.Integer(), nullable=False),
        sa.Column("max_minutes", sa.Float(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("epochs", sa.JSON(), nullable=False),
        sa.Column("stopped", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", TZ, nullable=True),
        sa.Column("checkpoint_key", sa.String(length=512), nullable=True),
        sa.Column("model_id", sa.String(length=36), nullable=True),
        sa.Column("callback_url", sa.String(length=2048), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["validation_dataset_id"], ["datasets.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trainings_tenant_created", "trainings", ["tenant_id", "created_at"])
    op.create_index("ix_trainings_status", "trainings", ["status"])
    op.create_table(
        "trained_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("training_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", "version", name="uq_trained_models_version"),
        sa.UniqueConstraint("training_id", name="uq_trained_models_training"),
    )
    op.create_index("ix_trained_models_tenant", "trained_models", ["tenant_id", "created_at"])
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("default_detector", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("default_recognizer", sa.String(length=200), nullable=True))
    for table in ("jobs", "batches"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("model_choice", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("batches", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("model_choice")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("default_recognizer")
        batch.drop_column("default_detector")
    op.drop_index("ix_trained_models_tenant", table_name="trained_models")
    op.drop_table("trained_models")
    op.drop_index("ix_trainings_status", table_name="trainings")
    op.drop_index("ix_trainings_tenant_created", table_name="trainings")
    op.drop_table("trainings")
    op.drop_index("ix_datasets_tenant_created", table_name="datasets")
    op.drop_table("datasets")
