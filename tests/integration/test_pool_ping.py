"""The API engine's ping policy on PostgreSQL: a connection idle long enough is pinged and
replaced when the server closed it; one reused at once is not pinged, and if it was closed
its statement fails once and the pool is replaced."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shared.db.session import build_engine

pytestmark = pytest.mark.integration
IDLE_S = 0.3


@pytest.fixture
def engine(pg_database_url: str) -> Iterator[Engine]:
    built = build_engine(pg_database_url, ping_after_idle=IDLE_S)
    built.pool.dispose()
    yield built
    built.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")) or 0)


def terminate(pg_database_url: str, pid: int) -> None:
    """Close a backend from another connection, as a server restart would."""
    other = build_engine(pg_database_url)
    with other.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_closed_by_the_server_is_replaced(
    engine: Engine, pg_database_url: str
) -> None:
    first = backend_pid(engine)
    terminate(pg_database_url, first)
    time.sleep(IDLE_S * 2)

    assert backend_pid(engine) != first  # pinged, found closed, replaced: no error


def test_a_connection_reused_at_once_is_not_pinged(engine: Engine, pg_database_url: str) -> None:
    first = backend_pid(engine)
    terminate(pg_database_url, first)

    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)  # no ping within IDLE_S: the statement meets the closed socket
    assert failed.value.connection_invalidated
    assert backend_pid(engine) != first  # the pool was replaced: the next request works
