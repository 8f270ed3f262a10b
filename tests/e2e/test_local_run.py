"""`quire run` (what `make run` starts): embedded defaults, supervision, clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import OFFLINE, QUIRE, REPO, free_port, poll_job, wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e


def children_of(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def command_of(pid: int) -> str:
    out = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return out.stdout.strip()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")


def test_quire_run_processes_a_job_restarts_workers_and_stops_cleanly(
    tmp_path: Path, crom_png: bytes
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    env.update(OFFLINE, PYTHONUNBUFFERED="1", QUIRE_DATA_DIR=str(tmp_path / ".quire"))
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        run = subprocess.Popen(
            [*QUIRE, "run", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        key_file = tmp_path / ".quire" / "dev-api-key"
        wait_for(lambda: b"quire is up" in log_path.read_bytes(), 90, "quire run to start")
        key = key_file.read_text().strip()
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        assert (tmp_path / ".quire" / "quire.db").exists()  # SQLite on embedded defaults

        def submit() -> str:
            response = httpx.post(
                f"{base}/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("crom.png", crom_png, "image/png")},
            )
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        first = poll_job(base, key, submit(), {"succeeded", "failed"})
        assert first["status"] == "succeeded"

        # A worker that dies is started again, and work goes on.
        workers = [
            p for p in children_of(run.pid) if b"worker" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert len(workers) == 3  # cpu, gpu and train
        assert sum(b"train" in Path(f"/proc/{p}/cmdline").read_bytes() for p in workers) == 1
        commands = [Path(f"/proc/{p}/cmdline").read_bytes() for p in children_of(run.pid)]
        assert sum(b"sweeper" in c for c in commands) == 1
        os.killpg(workers[0], signal.SIGKILL)
        wait_for(lambda: b"restarting" in log_path.read_bytes(), 30, "the restart")
        second = poll_job(base, key, submit(), {"succeeded", "failed"}, timeout=120)
        assert second["status"] == "succeeded"

        # Webhooks work locally: loopback receivers are allowed by quire run.
        receiver = Receiver()
        try:
            response = httpx.post(
                f"{base}/v1/jobs",
                headers={"Authorization": f"Bearer {key}"},
                files={"file": ("crom.png", crom_png, "image/png")},
                data={"callback_url": receiver.url},
            )
            assert response.status_code == 202, response.text
            (event,) = receiver.wait_for(1, timeout=60)
            assert event.headers["webhook-id"].startswith("msg_")
        finally:
            receiver.close()

        children = children_of(run.pid)
        run.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert run.wait(60) == 0
        wait_for(lambda: not any(alive(p) for p in children), 10, "children to exit")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        print(log_path.read_text(errors="replace")[-4000:])


def test_no_process_outlives_a_killed_quire_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
    env.update(OFFLINE, PYTHONUNBUFFERED="1", QUIRE_DATA_DIR=str(tmp_path / ".quire"))
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        run = subprocess.Popen(
            [*QUIRE, "run", "--port", str(free_port())],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    children: list[int] = []
    try:
        wait_for(lambda: b"quire is up" in log_path.read_bytes(), 90, "quire run to start")
        children = children_of(run.pid)
        assert len(children) == 6  # api, three workers, sweeper and the embedded Redis
        assert any("redis-server" in command_of(pid) for pid in children)
        run.kill()  # SIGKILL: the supervisor cannot stop anything itself
        run.wait(10)
        wait_for(lambda: not any(alive(p) for p in children), 90, "the orphans to exit")
    finally:
        for pid in children:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        print(log_path.read_text(errors="replace")[-3000:])
