"""Benchmark: ingest of a 10,000-member archive, members/s and peak memory.

The ingest step (``worker.ingest.ingest_batch``, what the CPU worker runs) reads an archive
from the object store member by member. Each archive is ingested in a fresh child process so
its peak RSS is its own; the 10,000-member run is compared with a 100-member run in the same
invocation (target: peak RSS within 1.2x — memory must not grow with the archive).

``--baseline REV`` runs the same two ingests a second time with the archive reader of git
revision REV (its ``worker/archives.py`` loaded in place of today's), alternating readers
size by size, so a new reader is measured side by side with the one it replaces.

Store: a moto S3 server in its own process on loopback (ranged reads for zip and 7z);
database: PostgreSQL if QUIRE_TEST_DATABASE_URL answers, else SQLite; broker: Redis db 14.

    .venv/bin/python -m bench.ingest_archive [--members 10000] [--small 100]
        [--format zip|tar.gz|7z] [--baseline REV]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

TARGET_RSS_RATIO = 1.2
REDIS_URL = "redis://127.0.0.1:6379/14"


def tiny_png(seed: int) -> bytes:
    """A small distinct page image (a few hundred bytes)."""
    rng = random.Random(seed)
    image = Image.new("L", (64, 24), 255)
    for _ in range(30):
        image.putpixel((rng.randrange(64), rng.randrange(24)), 0)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def build_archive(path: Path, members: int, fmt: str) -> None:
    """``members`` PNGs three folders deep, written straight to disk."""
    names = [f"box{i // 1000:02d}/folder{(i // 100) % 10}/scan{i:05d}.png" for i in range(members)]
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for i, name in enumerate(names):
                archive.writestr(name, tiny_png(i))
        return
    if fmt == "7z":
        import libarchive

        with libarchive.file_writer(str(path), "7zip") as archive:
            for i, name in enumerate(names):
                data = tiny_png(i)
                archive.add_file_from_memory(name, len(data), data)
        return
    with tarfile.open(path, "w:gz") as archive:
        for i, name in enumerate(names):
            data = tiny_png(i)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(folder: Path) -> str:
    url = os.environ.get(
        "QUIRE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        name = f"quire_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(url).set(database=name).render_as_string(hide_password=False)
    except Exception:
        return f"sqlite:///{folder / 'bench.db'}"


def drop_database(url: str) -> None:
    """Remove the benchmark's PostgreSQL database (SQLite goes with the folder)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def child_env(endpoint: str, bucket: str, db_url: str, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QUIRE_DATA_DIR": str(folder / "data"),
        "QUIRE_DATABASE_URL": db_url,
        "QUIRE_REDIS_URL": REDIS_URL,
        "QUIRE_STORE_BACKEND": "s3",
        "QUIRE_S3_ENDPOINT_URL": endpoint,
        "QUIRE_S3_BUCKET": bucket,
        "QUIRE_S3_ACCESS_KEY_ID": "bench",
        "QUIRE_S3_SECRET_ACCESS_KEY": "bench",
        "QUIRE_INGEST_SLICE_SECONDS": "3600",
    }


def run_child(env: dict[str, str], archive: Path, baseline: str | None) -> tuple[float, int, int]:
    """Ingest one archive in a fresh process; (seconds, members, peak RSS in KiB)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ingest_archive", "--child", str(archive)],
        env={**env, "QUIRE_BENCH_READER_REV": baseline or ""},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"ingest child failed ({status}): {output}")
    seconds, members = output.split()
    return float(seconds), int(members), int(usage.ru_maxrss)


def load_reader(rev: str) -> None:
    """Put revision ``rev``'s ``worker/archives.py`` in place of today's, before the ingest
    imports it."""
    import importlib.util

    source = subprocess.run(
        ["git", "show", f"{rev}:worker/archives.py"], capture_output=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("worker.archives", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["worker.archives"] = module
    exec(compile(source, f"{rev}:worker/archives.py", "exec"), module.__dict__)


def child(archive: Path) -> None:
    """Upload the archive, make a batch of it, then time the ingest step alone."""
    if rev := os.environ.get("QUIRE_BENCH_READER_REV"):
        load_reader(rev)
    from shared.celery_config import build_celery
    from shared.db.migrate import upgrade
    from shared.db.models import Batch, BatchItem
    from shared.db.session import transaction
    from shared.settings import Settings
    from shared.tenancy import ensure_tenant
    from worker.context import WorkerContext
    from worker.ingest import ingest_batch

    settings = Settings()
    upgrade(settings.effective_database_url)
    ctx = WorkerContext.build(settings, producer=build_celery(settings))
    key = f"bench/{archive.name}-{uuid.uuid4().hex[:6]}"
    with archive.open("rb") as stream:
        ctx.store.put_stream(key, stream, "application/octet-stream")
    with transaction(ctx.sessions) as session:
        tenant = ensure_tenant(session, "bench")
        batch = Batch(tenant_id=tenant.id, source_key=key, filename=archive.name)
        session.add(batch)
        session.flush()
        batch_id = batch.id
    started = time.perf_counter()
    ingest_batch(ctx, batch_id)
    seconds = time.perf_counter() - started
    from sqlalchemy import func, select

    with transaction(ctx.sessions) as session:
        members = session.scalar(
            select(func.count()).select_from(BatchItem).where(BatchItem.batch_id == batch_id)
        )
    ctx.close()
    print(f"{seconds:.3f} {members}")


def start_moto(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--format", choices=["zip", "tar.gz", "7z"], default="zip")
    parser.add_argument("--baseline", help="git revision whose archive reader to compare")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child))
        return
    import boto3
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    moto = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    bucket = "bench"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket=bucket)
    try:
        with tempfile.TemporaryDirectory(prefix="quire-bench-") as tmp:
            folder = Path(tmp)
            env = child_env(endpoint, bucket, database_url(folder), folder)
            readers = [None, args.baseline] if args.baseline else [None]
            runs: dict[str | None, list[tuple[int, int, float, int, int]]] = {}
            for count in (args.small, args.members):
                archive = folder / f"members-{count}.{args.format}"
                build_archive(archive, count, args.format)
                for reader in readers:
                    seconds, members, rss = run_child(env, archive, reader)
                    row = (count, archive.stat().st_size, seconds, members, rss)
                    runs.setdefault(reader, []).append(row)
    finally:
        moto.terminate()
        redis.Redis.from_url(REDIS_URL).flushdb()
        drop_database(env["QUIRE_DATABASE_URL"])
    print(
        f"machine: {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores; store: moto S3 on loopback; database: "
        f"{env['QUIRE_DATABASE_URL'].split(':')[0]}; archive: {args.format}"
    )
    print("| reader | members | archive bytes | seconds | members/s | peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for reader, rows in runs.items():
        report(reader or "today's (libarchive)", rows)
    for reader, rows in runs.items():
        ratio = rows[-1][4] / rows[0][4]
        mark = "ok" if ratio <= TARGET_RSS_RATIO else "MISSED"
        print(
            f"{reader or 'today'}: peak RSS ratio {rows[-1][0]} vs {rows[0][0]} members: "
            f"{ratio:.2f} (target <= 1.2) {mark}"
        )
    if args.baseline:
        ours, theirs = runs[None][-1], runs[args.baseline][-1]
        print(
            f"{ours[0]} members, today vs {args.baseline}: members/s "
            f"{(ours[3] / ours[2]) / (theirs[3] / theirs[2]):.2f}x, "
            f"peak RSS {ours[4] / theirs[4]:.2f}x"
        )


def report(reader: str, runs: list[tuple[int, int, float, int, int]]) -> None:
    for count, size, seconds, members, rss in runs:
        assert members == count, (members, count)
        print(
            f"| {reader} | {count} | {size} | {seconds:.1f} | {members / seconds:.0f} "
            f"| {rss / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
