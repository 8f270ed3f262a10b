"""Benchmark (chaos 6): concurrent clients submitting small images through the real API.

16 clients (each with its own API key and tenant) send ``POST /v1/jobs`` with a small PNG for
``--duration`` seconds while the CPU and GPU workers run, and the same clients send the same
multipart body for the same time to a no-op FastAPI endpoint that only reads the upload,
served by the same uvicorn in the same way (as many processes, access log at info), in
alternating rounds of one run (so both meet the same background: the workers busy with the
pages already sent). Reported: submits/s,
p50/p99 latency, errors, and the ratio of quire's submits/s to the no-op's (target >= 0.4).

Stack: ``quire api``, ``quire worker --queues cpu`` and ``--queues gpu`` as processes on
PostgreSQL (a fresh database on QUIRE_TEST_DATABASE_URL's server), Redis database 14 and the
local object store.

    .venv/bin/python -m bench.submit_load [--duration 60] [--clients 16] [--api-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI, UploadFile
from PIL import Image, ImageDraw

from tests.databases import temporary_pg_database

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.4
REDIS_URL = "redis://127.0.0.1:6379/14"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def small_png() -> bytes:
    """A one-line printed page of a few KB."""
    image = Image.new("L", (400, 60), 255)
    ImageDraw.Draw(image).text((10, 20), "a page sent under load", fill=0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class LoadResult:
    """What one load run measured."""

    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def row(self) -> str:
        errors = sum(self.errors.values())
        return (
            f"| {self.name} | {self.ok} | {self.per_second:.1f} | "
            f"{1000 * self.percentile(0.5):.0f} | {1000 * self.percentile(0.99):.0f} | {errors} |"
        )


async def _client(
    url: str, headers: dict[str, str], body: bytes, until: float, result: LoadResult
) -> None:
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = await client.post(url, files={"file": ("p.png", body, "image/png")})
                outcome = str(response.status_code) if response.status_code != 202 else ""
            except httpx.HTTPError as e:
                outcome = type(e).__name__
            if outcome:
                result.errors[outcome] = result.errors.get(outcome, 0) + 1
            else:
                result.latencies.append(time.monotonic() - started)


def hammer(name: str, url: str, keys: list[str], body: bytes, duration: float) -> LoadResult:
    """One client per key posting ``body`` to ``url`` for ``duration`` seconds."""
    result = LoadResult(name, duration)

    async def run() -> None:
        until = time.monotonic() + duration
        await asyncio.gather(
            *(_client(url, {"Authorization": f"Bearer {k}"}, body, until, result) for k in keys)
        )

    started = time.monotonic()
    asyncio.run(run())
    result.seconds = time.monotonic() - started
    return result


def noop_app() -> FastAPI:
    """A FastAPI app whose one route reads a multipart upload and answers 202."""
    app = FastAPI()

    @app.post("/upload", status_code=202)
    async def upload(file: UploadFile) -> dict[str, int]:
        return {"bytes": len(await file.read())}

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer")


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def noop_server(env: dict[str, str], logs: Path, workers: int) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.submit_load", "--serve-noop", str(port)]
    argv += ["--api-workers", str(workers)]
    with process(argv, env, logs / "noop.log"):
        wait_http(f"http://127.0.0.1:{port}/docs")
        yield f"http://127.0.0.1:{port}/upload"


@contextmanager
def quire_stack(env: dict[str, str], logs: Path, workers: int) -> Iterator[str]:
    """API, CPU worker and GPU worker as processes; yields the submit URL."""
    port = free_port()
    quire = [sys.executable, "-m", "cli.main"]
    with (
        process([*quire, "worker", "--queues", "cpu"], env, logs / "worker-cpu.log"),
        process([*quire, "worker", "--queues", "gpu"], env, logs / "worker-gpu.log"),
        process(
            [*quire, "api", "--port", str(port), "--workers", str(workers)], env, logs / "api.log"
        ),
    ):
        wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}/v1/jobs"


def issue_keys(database_url: str, count: int) -> list[str]:
    """One key per client, each of its own tenant (16 customers, each under the default
    per-tenant in-flight limits, which a long run at full speed would reach for one)."""
    from shared.db.session import build_engine, build_sessionmaker, transaction
    from shared.settings import Settings
    from shared.tenancy import ensure_tenant, issue_api_key

    settings = Settings(database_url=database_url)
    engine = build_engine(database_url)
    with transaction(build_sessionmaker(engine)) as session:
        keys = [
            issue_api_key(session, ensure_tenant(session, f"load-{n}"), settings.secret_key)
            for n in range(count)
        ]
    engine.dispose()
    return keys


def compare(
    env: dict[str, str],
    logs: Path,
    clients: int,
    duration: float,
    workers: int = 1,
    rounds: int = 4,
) -> tuple[LoadResult, LoadResult]:
    """The no-op endpoint and quire under the same load, in alternating rounds of
    ``duration / rounds`` seconds each, so that both meet the same machine: workers busy
    with the pages of the earlier quire rounds included."""
    # The rate limiter still runs on every request; its limit is set above this load.
    env = {**env, "QUIRE_RATE_LIMIT_PER_MINUTE": "60000"}
    keys = issue_keys(env["QUIRE_DATABASE_URL"], clients)
    body = small_png()
    noop, ours = LoadResult("no-op FastAPI upload", 0.0), LoadResult("quire POST /v1/jobs", 0.0)
    with (
        noop_server(env, logs, workers) as noop_url,
        quire_stack(env, logs, workers) as quire_url,
    ):
        hammer("warm-up", quire_url, keys[:2], body, 2.0)
        for _ in range(rounds):
            for total, url in ((noop, noop_url), (ours, quire_url)):
                _add(total, hammer(total.name, url, keys, body, duration / rounds))
    return noop, ours


def _add(total: LoadResult, part: LoadResult) -> None:
    total.seconds += part.seconds
    total.latencies.extend(part.latencies)
    for outcome, count in part.errors.items():
        total.errors[outcome] = total.errors.get(outcome, 0) + count


def report(noop: LoadResult, ours: LoadResult, clients: int, workers: int) -> str:
    ratio = ours.per_second / noop.per_second if noop.per_second else float("nan")
    lines = [
        f"{clients} clients, {ours.seconds:.0f} s each in alternating rounds, "
        f"{workers} uvicorn process(es) per server, workers running",
        "",
        "| endpoint | accepted | per second | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        noop.row(),
        ours.row(),
        "",
        f"ratio quire / no-op: {ratio:.2f} (target >= {TARGET_RATIO})",
    ]
    if ours.errors or noop.errors:
        lines.append(f"errors: no-op {noop.errors}, quire {ours.errors}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--api-workers", type=int, default=1, help="processes per server")
    parser.add_argument("--serve-noop", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        import uvicorn

        # Logged like quire's API (uvicorn's access log at info), so both do the same.
        uvicorn.run(
            "bench.submit_load:noop_app",
            factory=True,
            workers=args.api_workers,
            host="127.0.0.1",
            port=args.serve_noop,
            log_level="info",
        )
        return
    admin = os.environ.get("QUIRE_TEST_DATABASE_URL", DEFAULT_PG)
    with (
        tempfile.TemporaryDirectory() as folder,
        temporary_pg_database(admin, "quire_load") as database_url,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
        env.update(
            {
                "QUIRE_DATA_DIR": str(Path(folder) / "data"),
                "QUIRE_DATABASE_URL": database_url,
                "QUIRE_REDIS_URL": REDIS_URL,
                "QUIRE_WORKER_METRICS_PORT": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        noop, ours = compare(env, Path(folder), args.clients, args.duration, args.api_workers)
        print(report(noop, ours, args.clients, args.api_workers))


if __name__ == "__main__":
    main()
