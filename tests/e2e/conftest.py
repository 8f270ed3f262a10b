"""End-to-end fixtures: the API and Celery workers as real processes on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from shared.tenancy import ensure_tenant, issue_api_key

REPO = Path(__file__).resolve().parents[2]
QUIRE = [sys.executable, "-m", "cli.main"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "YOLO_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    step: float = 0.2,
) -> None:
    """Wait until ``predicate()``; ``what`` (or what it returns, asked at the timeout) says
    what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    said = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout}s waiting for {said}")


@dataclass
class Stack:
    """API and workers started as separate processes sharing one environment."""

    env: dict[str, str]
    logs: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [*QUIRE, *args],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_api(self) -> None:
        self.start("api", "api", "--port", str(self.port))
        wait_for(self._ready, 60, "the API to be ready")

    def start_worker(self, queue: str) -> None:
        self.start(f"worker-{queue}", "worker", "--queues", queue)
        wait_for(lambda: b"ready." in self.log_of(f"worker-{queue}"), 60, f"{queue} worker")

    def start_sweeper(self) -> None:
        self.start("sweeper", "sweeper")
        wait_for(lambda: b"sweeper running" in self.log_of("sweeper"), 60, "the sweeper")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return int(proc.returncode)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log_of(self, name: str) -> bytes:
        path = self.logs / f"{name}.log"
        return path.read_bytes() if path.exists() else b""

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def stack_env(
    tmp_path: Path, own_pg_database_url: str, redis_url: str, s3_env: dict[str, str]
) -> dict[str, str]:
    """Production-like settings: PostgreSQL (a database of the test's own, so no other
    test's rows reach its workers' reclaim and reconcile passes), Redis, S3 (moto), short
    time limits."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")},
        **OFFLINE,
        **s3_env,
        "PYTHONUNBUFFERED": "1",
        "QUIRE_DATA_DIR": str(tmp_path / "data"),
        "QUIRE_DATABASE_URL": own_pg_database_url,
        "QUIRE_REDIS_URL": redis_url,
        "QUIRE_TASK_SOFT_TIME_LIMIT": "20",
        "QUIRE_TASK_TIME_LIMIT": "30",
    }


S = TypeVar("S", bound=Stack)


@contextmanager
def running_stack(kind: type[S], env: dict[str, str], tmp_path: Path) -> Iterator[S]:
    """A stack of ``kind``, stopped at the end with the tail of every process's log shown."""
    logs = tmp_path / "logs"
    logs.mkdir()
    running = kind(env, logs)
    try:
        yield running
    finally:
        running.stop_all()
        for path in sorted(logs.glob("*.log")):
            tail = path.read_text(errors="replace")[-3000:]
            print(f"----- {path.name} -----\n{tail}")


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    with running_stack(Stack, stack_env, tmp_path) as running:
        yield running


def issue_key(database_url: str, tenant: str) -> str:
    """A new API key for ``tenant`` (created if new), written straight to the database."""
    settings = Settings(database_url=database_url)
    engine = build_engine(settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        key = issue_api_key(session, ensure_tenant(session, tenant), settings.secret_key)
    engine.dispose()
    return key


@pytest.fixture
def api_key(stack_env: dict[str, str]) -> str:
    return issue_key(stack_env["QUIRE_DATABASE_URL"], "e2e")


def poll_job(base: str, key: str, job_id: str, until: set[str], timeout: float = 90) -> dict:
    """Poll ``GET /v1/jobs/{id}`` until its status is in ``until``."""
    seen: dict = {}

    def done() -> bool:
        nonlocal seen
        seen = httpx.get(f"{base}/v1/jobs/{job_id}", headers={"X-API-Key": key}).json()
        return seen.get("status") in until

    wait_for(done, timeout, lambda: f"job {job_id} to reach {until} (last: {seen})", step=0.3)
    return seen
