"""Engine and session factory; one engine per process, built from the settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.errors import DatabaseUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def build_engine(url: str, *, ping_after_idle: float | None = None) -> Engine:
    """Create the process's engine; SQLite gets WAL and write-locking transactions.

    A pooled connection is pinged when it is checked out, so a restarted database costs no
    failed request; with ``ping_after_idle``, only one unused for that many seconds is. A
    connection that served a request a moment ago is almost surely still there, and under
    load the ping is a round trip per request: if the database did restart in between, that
    one statement fails (a 503 the client retries) and the whole pool is replaced.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Room for every thread of the API's pool without opening and closing overflow
        # connections under load.
        engine = create_engine(
            url,
            pool_pre_ping=ping_after_idle is None,
            pool_size=20,
            max_overflow=20,
            # The most recently used connection first: under light load the same few stay
            # warm (and unpinged) instead of every pooled one going idle in turn.
            pool_use_lifo=True,
        )
        if ping_after_idle is not None:
            _ping_after_idle(engine, ping_after_idle)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


IDLE_SINCE = "quire_idle_since"


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    def idle_from_now(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info[IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(IDLE_SINCE, 0.0) < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as e:
            if engine.dialect.is_disconnect(e, dbapi_connection, None):
                # The pool drops this connection and checks out another.
                raise DisconnectionError("the pooled connection was closed") from e
            raise

    event.listen(engine.pool, "connect", idle_from_now)
    event.listen(engine.pool, "checkin", idle_from_now)
    event.listen(engine.pool, "checkout", ping_if_idle)


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
