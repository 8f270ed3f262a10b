from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import (
    DEV_SECRET_KEY,
    VISIBILITY_TIMEOUT_FACTOR,
    Mode,
    Settings,
    StoreBackend,
)

GOOD_SECRET = "s" * 40
PRODUCTION_ENV = {
    "QUIRE_MODE": "production",
    "QUIRE_SECRET_KEY": GOOD_SECRET,
    "QUIRE_DATABASE_URL": "postgresql+psycopg://quire:pw@db:5432/quire",
    "QUIRE_REDIS_URL": "redis://redis:6379/0",
    "QUIRE_STORE_BACKEND": "s3",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No QUIRE_* variable of the surrounding environment reaches these tests."""
    for name in list(os.environ):
        if name.upper().startswith("QUIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # relative data_dir resolves inside the temporary folder
    yield


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_defaults_work_in_local_mode(tmp_path: Path) -> None:
    s = Settings()
    assert s.mode is Mode.LOCAL
    assert s.secret_key == DEV_SECRET_KEY
    assert s.database_url is None
    assert s.redis_url is None
    assert s.store_backend is StoreBackend.LOCAL
    assert s.data_dir == Path(".quire")
    resolved = tmp_path.resolve()
    assert s.effective_database_url == f"sqlite:///{resolved / '.quire' / 'quire.db'}"
    assert s.effective_store_dir == resolved / ".quire" / "objects"
    assert s.max_upload_bytes == 50 * 1024 * 1024
    assert s.task_soft_time_limit < s.task_time_limit


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_env(
        monkeypatch,
        {
            "QUIRE_DATA_DIR": str(tmp_path / "state"),
            "QUIRE_STORE_DIR": str(tmp_path / "blobs"),
            "QUIRE_DATABASE_URL": "sqlite:////tmp/x.db",
            "QUIRE_MAX_UPLOAD_MB": "7",
            "QUIRE_TASK_TIME_LIMIT": "100",
            "QUIRE_TASK_SOFT_TIME_LIMIT": "90",
        },
    )
    s = Settings()
    assert s.data_dir == tmp_path / "state"
    assert s.effective_store_dir == (tmp_path / "blobs").resolve()
    assert s.effective_database_url == "sqlite:////tmp/x.db"
    assert s.max_upload_bytes == 7 * 1024 * 1024
    assert s.effective_visibility_timeout == 300


def test_leaked_variable_is_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse fixture ran before this; a variable set now is seen, proving the
    # settings do read the environment and the clean defaults above are meaningful.
    monkeypatch.setenv("QUIRE_LOG_LEVEL", "DEBUG")
    assert Settings().log_level == "DEBUG"


def test_production_refuses_every_unsafe_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIRE_MODE", "production")
    with pytest.raises(ValueError) as info:
        Settings()
    message = str(info.value)
    assert "unsafe settings for production mode" in message
    for variable in (
        "QUIRE_SECRET_KEY",
        "QUIRE_DATABASE_URL",
        "QUIRE_REDIS_URL",
        "QUIRE_STORE_BACKEND",
    ):
        assert variable in message


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"QUIRE_SECRET_KEY": DEV_SECRET_KEY}, "QUIRE_SECRET_KEY"),
        ({"QUIRE_SECRET_KEY": "short-secret"}, "QUIRE_SECRET_KEY"),
        ({"QUIRE_SECRET_KEY": "x" * 31}, "QUIRE_SECRET_KEY"),
        ({"QUIRE_DATABASE_URL": "sqlite:////var/lib/quire.db"}, "QUIRE_DATABASE_URL"),
        ({"QUIRE_DATABASE_URL": None}, "QUIRE_DATABASE_URL"),
        ({"QUIRE_REDIS_URL": None}, "QUIRE_REDIS_URL"),
        ({"QUIRE_REDIS_URL": ""}, "QUIRE_REDIS_URL"),
        ({"QUIRE_STORE_BACKEND": "local"}, "QUIRE_STORE_BACKEND"),
        ({"QUIRE_STORE_BACKEND": None}, "QUIRE_STORE_BACKEND"),
    ],
)
def test_production_refuses_each_problem_alone(
    monkeypatch: pytest.MonkeyPatch, override: dict[str, str | None], problem: str
) -> None:
    set_env(monkeypatch, PRODUCTION_ENV)
    for name, value in override.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="unsafe settings for production mode") as info:
        Settings()
    message = str(info.value)
    assert problem in message
    others = {
        "QUIRE_SECRET_KEY",
        "QUIRE_DATABASE_URL",
        "QUIRE_REDIS_URL",
        "QUIRE_STORE_BACKEND",
    } - {problem}
    assert not [name for name in others if f"{name} must" in message]


def test_production_accepts_a_full_config(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, PRODUCTION_ENV)
    s = Settings()
    assert s.mode is Mode.PRODUCTION
    assert s.store_backend is StoreBackend.S3
    assert s.secret_key == GOOD_SECRET
    assert s.effective_database_url == PRODUCTION_ENV["QUIRE_DATABASE_URL"]
    assert s.broker_url == "redis://redis:6379/0"


def test_secret_key_of_exactly_the_minimum_length_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, PRODUCTION_ENV)
    monkeypatch.setenv("QUIRE_SECRET_KEY", "k" * 32)
    assert Settings().secret_key == "k" * 32


@pytest.mark.parametrize(("soft", "hard"), [(300, 300), (301, 300), (10, 2)])
def test_soft_time_limit_must_be_below_hard_limit(
    monkeypatch: pytest.MonkeyPatch, soft: int, hard: int
) -> None:
    monkeypatch.setenv("QUIRE_TASK_SOFT_TIME_LIMIT", str(soft))
    monkeypatch.setenv("QUIRE_TASK_TIME_LIMIT", str(hard))
    with pytest.raises(ValueError, match="QUIRE_TASK_SOFT_TIME_LIMIT must be below"):
        Settings()


def test_soft_time_limit_just_below_hard_limit_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUIRE_TASK_SOFT_TIME_LIMIT", "299")
    monkeypatch.setenv("QUIRE_TASK_TIME_LIMIT", "300")
    s = Settings()
    assert (s.task_soft_time_limit, s.task_time_limit) == (299, 300)


@pytest.mark.parametrize("visibility", [1, 300, 899])
def test_visibility_timeout_below_three_times_the_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, visibility: int
) -> None:
    monkeypatch.setenv("QUIRE_TASK_TIME_LIMIT", "300")
    monkeypatch.setenv("QUIRE_VISIBILITY_TIMEOUT", str(visibility))
    with pytest.raises(ValueError, match=r"QUIRE_VISIBILITY_TIMEOUT must be >= 900"):
        Settings()


@pytest.mark.parametrize("visibility", [900, 3600])
def test_visibility_timeout_at_or_above_three_times_the_limit_is_kept(
    monkeypatch: pytest.MonkeyPatch, visibility: int
) -> None:
    monkeypatch.setenv("QUIRE_TASK_TIME_LIMIT", "300")
    monkeypatch.setenv("QUIRE_VISIBILITY_TIMEOUT", str(visibility))
    assert Settings().effective_visibility_timeout == visibility


@pytest.mark.parametrize(("hard", "expected"), [(300, 900), (60, 180), (2, 6)])
def test_effective_visibility_timeout_defaults_to_three_times_the_limit(
    monkeypatch: pytest.MonkeyPatch, hard: int, expected: int
) -> None:
    monkeypatch.setenv("QUIRE_TASK_TIME_LIMIT", str(hard))
    monkeypatch.setenv("QUIRE_TASK_SOFT_TIME_LIMIT", "1")
    s = Settings()
    assert s.visibility_timeout is None
    assert s.effective_visibility_timeout == expected == VISIBILITY_TIMEOUT_FACTOR * hard


def test_broker_url_requires_redis_url() -> None:
    s = Settings()
    with pytest.raises(RuntimeError, match="QUIRE_REDIS_URL is not set"):
        _ = s.broker_url


def test_broker_url_returns_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUIRE_REDIS_URL", "redis://localhost:6380/2")
    assert Settings().broker_url == "redis://localhost:6380/2"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("QUIRE_MODE", "staging"),
        ("QUIRE_STORE_BACKEND", "gcs"),
        ("QUIRE_MAX_UPLOAD_MB", "0"),
        ("QUIRE_MAX_IMAGE_PIXELS", "999999"),
        ("QUIRE_PPOCR_UNCLIP_RATIO", "1.0"),
        ("QUIRE_PPOCR_MIN_CONFIDENCE", "1.5"),
        ("QUIRE_MAX_ATTEMPTS", "0"),
        ("QUIRE_RETRY_BACKOFF_SECONDS", "0"),
        ("QUIRE_S3_MULTIPART_THRESHOLD_MB", "4"),
    ],
)
def test_out_of_range_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.removeprefix("QUIRE_").lower()):
        Settings()
