"""Package boundaries and the admin CLI, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from shared.db.models import Base
from shared.db.session import build_engine, build_sessionmaker
from shared.tenancy import key_is_valid

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_importing_the_api_loads_no_ml_stack() -> None:
    code = (
        "import sys, api, api.app, api.routes.jobs, api.submission\n"
        "heavy = {'torch', 'onnxruntime', 'cv2', 'transformers', 'ultralytics', 'worker'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_migrations_match_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def test_cli_creates_a_working_key(tmp_path: Path, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    env.update(QUIRE_DATABASE_URL=database_url, QUIRE_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "create", "--tenant", "cli"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = out.stdout.strip()
    assert key.startswith("qk_")
    engine = build_engine(database_url)
    with build_sessionmaker(engine)() as session:
        assert key_is_valid(session, key, "dev-only-insecure-secret-key-change-me")
        assert not key_is_valid(session, key + "x", "dev-only-insecure-secret-key-change-me")
    engine.dispose()


def test_production_mode_refuses_unsafe_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    env.update(QUIRE_MODE="production", QUIRE_DATA_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "db", "upgrade"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "QUIRE_SECRET_KEY" in out.stderr and "PostgreSQL" in out.stderr
