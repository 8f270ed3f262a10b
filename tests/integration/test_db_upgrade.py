"""`quire db upgrade` from several processes at once, and again: one schema, no error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.databases import temporary_pg_database

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4


@pytest.fixture(params=["sqlite", "pg"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, as a first deployment finds it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    admin_url = str(request.getfixturevalue("pg_admin_url"))
    with temporary_pg_database(admin_url, "quire_upgrade", migrated=False) as url:
        yield url


def upgrade_processes(url: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    """``quire db upgrade`` started ``count`` times at once, as containers starting together."""
    env = {"QUIRE_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "cli.main", "db", "upgrade"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from shared.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def test_concurrent_upgrades_make_one_schema_and_a_second_run_changes_nothing(
    empty_database_url: str,
) -> None:
    for run in upgrade_processes(empty_database_url, PROCESSES):
        assert run.returncode == 0, run.stderr[-3000:]
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        tables = set(inspect(connection).get_table_names())
    assert versions == [(head_revision(),)]
    assert {"jobs", "pages", "batches", "line_corrections"} <= tables
    [again] = upgrade_processes(empty_database_url, 1)
    assert again.returncode == 0, again.stderr[-3000:]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == versions
    engine.dispose()
