"""Throwaway PostgreSQL databases, created migrated and dropped after use (tests, benchmarks)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from shared.db.migrate import upgrade


@contextmanager
def temporary_pg_database(
    admin_url: str, prefix: str = "quire_test", migrated: bool = True, template: str | None = None
) -> Iterator[str]:
    """A new database on ``admin_url``'s server, migrated unless told, or a copy of the
    database ``template`` (no one may be connected to it); dropped (forcibly) on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        if migrated and template is None:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
