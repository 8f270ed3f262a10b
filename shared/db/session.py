"""Engine and session factory; one engine per process, built from the settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def build_engine(url: str) -> Engine:
    """Create the process's engine; SQLite gets WAL and write-locking transactions."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Room for every thread of the API's pool without opening and closing overflow
        # connections under load; pre-ping so a restarted database costs no failed request.
        return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control so that every transaction can start as IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # Several processes write one file: taking the write lock up front avoids the
    # deferred-transaction upgrade that fails at once with SQLITE_BUSY.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error.

    Connection-level failures are raised as ``DatabaseUnavailable`` (retryable).
    """
    with database_errors(), sessions.begin() as session:
        yield session


@contextmanager
def connection(engine: Engine, *, autocommit: bool = False) -> Iterator[Connection]:
    """A Core connection for a few statements, without an ORM session; commit is up to
    the caller (``conn.commit()``), anything else is rolled back.

    ``autocommit`` suits a single statement, atomic by itself: on PostgreSQL it saves the
    BEGIN and COMMIT round trips (SQLite, in process, keeps its write-locking transaction).
    Connection-level failures are raised as ``DatabaseUnavailable`` (retryable).
    """
    with database_errors(), engine.connect() as conn:
        if autocommit and engine.dialect.name != "sqlite":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@contextmanager
def database_errors() -> Iterator[None]:
    """Raise a lost or unreachable database as ``DatabaseUnavailable``."""
    try:
        yield
    except OperationalError as e:
        raise DatabaseUnavailable(f"database error: {e.orig}") from e
    except DBAPIError as e:
        if e.connection_invalidated:
            raise DatabaseUnavailable("database connection lost") from e
        raise
