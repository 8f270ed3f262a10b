"""Alembic environment: the URL comes from the caller (``shared.db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from shared.db.models import Base

config = context.config
configured = config.get_main_option("sqlalchemy.url")
if not configured:
    raise RuntimeError("run migrations through `quire db upgrade` (shared.db.migrate)")
url: str = configured
# Held for the migration's transaction on PostgreSQL, so that upgrades started together (several
# containers at once) run one after the other: the later ones find the schema at head.
MIGRATION_LOCK_ID = 0x717569726501  # "quire" and 1, any constant unique to quire


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
