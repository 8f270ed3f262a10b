"""Chaos fixtures: the whole stack as real processes on a private Redis and PostgreSQL that
the tests may kill, with a webhook receiver on loopback.

``QUIRE_CHAOS_SIZE=full`` (``make chaos``) runs the sizes the reliability issue names; the
default is a smaller run that fits in CI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from shared.db.migrate import upgrade
from tests.chaos.services import PrivatePostgres, PrivateRedis
from tests.e2e.conftest import OFFLINE, Stack, issue_key, running_stack, wait_for
from tests.webhook_receiver import Receiver

FULL = os.environ.get("QUIRE_CHAOS_SIZE", "small") == "full"
CHAOS_TIMEOUT = 1800 if FULL else 400  # seconds per test (pytest-timeout)


@dataclass(frozen=True)
class ChaosSize:
    """How big a run is."""

    pages: int  # pages in flight for the kill and restart scenarios
    pages_per_job: int = 5
    deadline_seconds: float = 600

    @property
    def jobs(self) -> int:
        return max(1, self.pages // self.pages_per_job)


@pytest.fixture(scope="session")
def size() -> ChaosSize:
    return ChaosSize(pages=200, deadline_seconds=900) if FULL else ChaosSize(pages=40)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
    except (OSError, RuntimeError) as e:
        server.remove()
        pytest.fail(f"cannot run a private PostgreSQL for the chaos suite: {e}")
    upgrade(server.url)
    yield server
    server.remove()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    yield hooks
    hooks.close()


@pytest.fixture
def chaos_env(
    tmp_path: Path,
    private_pg: PrivatePostgres,
    private_redis: PrivateRedis,
    s3_env: dict[str, str],
) -> dict[str, str]:
    """Short limits so that recovery paths run within the test: a killed worker's message
    comes back after 18 s (3x the 6 s time limit), lost work is looked for every 2 s."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")},
        **OFFLINE,
        **s3_env,
        "PYTHONUNBUFFERED": "1",
        "QUIRE_DATA_DIR": str(tmp_path / "data"),
        "QUIRE_DATABASE_URL": private_pg.url,
        "QUIRE_REDIS_URL": private_redis.url,
        "QUIRE_TASK_SOFT_TIME_LIMIT": "5",
        "QUIRE_TASK_TIME_LIMIT": "6",
        "QUIRE_RETRY_BACKOFF_SECONDS": "0.5",
        "QUIRE_MAX_ATTEMPTS": "10",
        "QUIRE_STALE_AFTER_SECONDS": "5",
        "QUIRE_RECONCILE_INTERVAL_SECONDS": "2",
        "QUIRE_SWEEP_INTERVAL_SECONDS": "0.5",
        "QUIRE_WEBHOOK_ALLOW_HTTP": "true",
        "QUIRE_WEBHOOK_ALLOW_LOOPBACK": "true",
        "QUIRE_WEBHOOK_RETRY_SCHEDULE": "1,2,4,8,15,30",
        "QUIRE_WORKER_METRICS_PORT": "0",
        "QUIRE_WORKER_STALL_SECONDS": "15",
    }


@dataclass
class ChaosStack(Stack):
    """The e2e stack, supervised the way compose's restart policy or ECS would: a process
    that exits is started again (and counted). Adds kill -9 and a wait for a restart."""

    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    _watching: threading.Event = field(default_factory=threading.Event)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.commands[name] = args
        return super().start(name, *args)

    def start_all(self) -> None:
        self.start_api()
        self.start_worker("cpu")
        self.start_worker("gpu")
        self.start_sweeper()
        self._watching.set()
        threading.Thread(target=self._supervise, daemon=True).start()

    def _supervise(self) -> None:
        while self._watching.is_set():
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None and self._watching.is_set():
                    self.restarts[name] += 1
                    super().start(name, *self.commands[name])
            time.sleep(0.5)

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children; the supervisor starts it again."""
        before = self.log_of(name).count(b"ready.")
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        wait_for(lambda: self.log_of(name).count(b"ready.") > before, 90, f"{name} again")

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def stop_all(self) -> None:
        self._watching.clear()
        time.sleep(0.6)
        super().stop_all()


@pytest.fixture
def chaos_stack(chaos_env: dict[str, str], tmp_path: Path) -> Iterator[ChaosStack]:
    with running_stack(ChaosStack, chaos_env, tmp_path) as running:
        yield running


@pytest.fixture
def chaos_key(chaos_env: dict[str, str]) -> str:
    return issue_key(chaos_env["QUIRE_DATABASE_URL"], "chaos")


def get(url: str, key: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
