"""The database half of a backup: a consistent dump (PostgreSQL ``pg_dump`` in its custom
format, SQLite's online backup API) and its restore into an empty database.

The dump of PostgreSQL runs in a snapshot this module exports and keeps open, so the object
keys it reads from the rows (see ``referenced_keys``) are exactly those in the dump.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from shared.backup.errors import BackupFailed, RestoreRefused

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
DUMP_FILES = {POSTGRESQL: "database.pgdump", SQLITE: "database.sqlite3"}
# The columns that name an object of the store, by table.
OBJECT_KEY_COLUMNS = (
    ("jobs", "source_key"),
    ("pages", "image_key"),
    ("batches", "source_key"),
    ("datasets", "source_key"),
    ("trainings", "checkpoint_key"),
    ("trained_models", "object_key"),
)
TOOL_TIMEOUT_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Dump:
    """A finished dump: its kind, file name, schema revision and the keys its rows name."""

    kind: str
    file: str
    revision: str | None
    referenced_keys: frozenset[str]


def database_kind(url: str) -> str:
    """``postgresql`` or ``sqlite``; anything else cannot be backed up."""
    kind = make_url(url).get_backend_name()
    if kind not in DUMP_FILES:
        raise BackupFailed(f"cannot back up a {kind} database: only PostgreSQL and SQLite")
    return kind


def dump_database(url: str, folder: Path) -> Dump:
    """Dump the database into ``folder``; one consistent snapshot, taken while it runs."""
    if database_kind(url) == SQLITE:
        return _dump_sqlite(_sqlite_path(url), folder / DUMP_FILES[SQLITE])
    return _dump_postgresql(url, folder / DUMP_FILES[POSTGRESQL])


def _dump_postgresql(url: str, path: Path) -> Dump:
    pg_dump = _tool("pg_dump")
    with _snapshot(url) as (connection, snapshot):
        _run(
            [
                pg_dump,
                *("--format=custom", "--no-owner", "--no-privileges"),
                *(f"--snapshot={snapshot}", f"--file={path}", f"--dbname={_libpq_url(url)}"),
            ],
            url,
            "pg_dump",
        )
        revision, keys = _revision(connection), referenced_keys(connection)
    return Dump(POSTGRESQL, path.name, revision, keys)


@contextmanager
def _snapshot(url: str) -> Iterator[tuple[Connection, str]]:
    """A repeatable-read transaction and the id of its exported snapshot."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
                yield connection, str(snapshot)
    except SQLAlchemyError as e:
        raise BackupFailed(f"cannot read the database: {e}") from e
    finally:
        engine.dispose()


def _dump_sqlite(source: Path, path: Path) -> Dump:
    if not source.is_file():
        raise BackupFailed(f"SQLite database {source} does not exist")
    _sqlite_copy(source, path)
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return Dump(SQLITE, path.name, _revision(connection), referenced_keys(connection))
    finally:
        engine.dispose()


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database page by page under a read lock (consistent even while other
    processes write it; WAL content included)."""
    try:
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
    except sqlite3.Error as e:
        raise BackupFailed(f"SQLite backup of {source} failed: {e}") from e


def referenced_keys(connection: Connection) -> frozenset[str]:
    """Every object key the database's rows name (tables of older schemas may lack some)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    keys: set[str] = set()
    for table, column in OBJECT_KEY_COLUMNS:
        if table not in tables or column not in {c["name"] for c in inspector.get_columns(table)}:
            continue
        rows = connection.execute(text(f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"))
        keys.update(str(row[0]) for row in rows)
    return frozenset(keys)


def _revision(connection: Connection) -> str | None:
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    return connection.scalar(text("SELECT version_num FROM alembic_version"))


# --- restore -----------------------------------------------------------------------------------


def table_names(url: str) -> list[str]:
    """The tables of the target database (none: it is empty, or does not exist yet)."""
    if database_kind(url) == SQLITE and not _sqlite_path(url).exists():
        return []
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    except SQLAlchemyError as e:
        raise BackupFailed(f"cannot reach the target database: {e}") from e
    finally:
        engine.dispose()


def check_target(url: str, kind: str, *, force: bool) -> None:
    """Refuse a target of another kind than the dump, or one that holds tables (unless
    ``force``)."""
    if database_kind(url) != kind:
        raise BackupFailed(f"the backup is of a {kind} database; the target is not")
    tables = table_names(url)
    if tables and not force:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise RestoreRefused(
            f"the target database already has {len(tables)} tables ({shown}); "
            "restore into an empty database, or pass --force to replace it"
        )


def restore_database(url: str, dump_path: Path, *, replace: bool) -> None:
    """Load a dump into the target; ``replace`` drops what the target holds first."""
    if database_kind(url) == SQLITE:
        target = _sqlite_path(url)
        if replace:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(dump_path, target)
        return
    if replace:
        _drop_public_schema(url)
    _run(
        [
            _tool("pg_restore"),
            *("--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"),
            *(f"--dbname={_libpq_url(url)}", str(dump_path)),
        ],
        url,
        "pg_restore",
    )


def _drop_public_schema(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except SQLAlchemyError as e:
        raise BackupFailed(f"cannot empty the target database: {e}") from e
    finally:
        engine.dispose()


# --- tools -------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} is not on PATH: install the PostgreSQL client of the server's major "
            "version (Debian: postgresql-client-NN) or put its bin folder first on PATH"
        )
    return found


def _run(command: list[str], url: str, name: str) -> None:
    """Run a PostgreSQL client tool, the password passed in its environment, not argv."""
    env = {**os.environ}
    password = make_url(url).password
    if password is not None:
        env["PGPASSWORD"] = str(password)
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackupFailed(f"{name} could not run: {e}") from e
    if done.returncode != 0:
        hint = ""
        if "version mismatch" in done.stderr:
            hint = " (the client tools must be at least the server's major version)"
        raise BackupFailed(f"{name} failed{hint}: {done.stderr.strip()[-2000:]}")


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq reads it: no driver suffix, no password."""
    parsed: URL = make_url(url).set(drivername="postgresql", password=None)
    return parsed.render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupFailed("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)
