"""Soak (issue #17): the stack as real processes under a steady mix of work for a long time,
every process's RSS, open file descriptors and threads sampled from /proc as it goes.

The API, a CPU worker, a GPU worker and the sweeper run as processes (``quire api|worker|
sweeper``) on PostgreSQL, Redis and the object store the environment names (``QUIRE_*``), or
else: a fresh database on ``QUIRE_TEST_DATABASE_URL``'s server (dropped at the end), Redis
``QUIRE_TEST_REDIS_URL`` or ``redis://127.0.0.1:6379/13`` (emptied first) and the local store
under ``--out``. The engine is the one a user gets by default (``QUIRE_ENGINE``, else
``mixed``). Single PNG/JPEG pages, multi-page PDFs and TIFFs and zip batches go in until
``--pages`` pages ended or ``--minutes`` passed; then the pages in flight drain. Writes
``samples.csv`` (as it goes), ``soak.png`` and the logs into ``--out`` and prints a verdict
against the targets: RSS of each process (with its children) at the end within
``--rss-bound`` of its RSS after ``--warmup`` pages, file descriptors and threads not
growing, no failed page, no error in any log.

    .venv/bin/python -m bench.soak [--pages 5000] [--minutes 60] [--out .quire/soak]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import re
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from sqlalchemy import func, select

from shared.db.migrate import upgrade
from shared.db.models import Job, Page, PageStatus
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.settings import DEV_SECRET_KEY
from shared.tenancy import ensure_tenant, issue_api_key
from tests.batch_inputs import jpeg_bytes, pdf_bytes, png_bytes, tiff_bytes, zip_of
from tests.databases import temporary_pg_database
from tests.e2e.conftest import OFFLINE, Stack

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"
ROLES = ("api", "worker-cpu", "worker-gpu", "sweeper")
LOG_ERROR = re.compile(rb"\bERROR\b|\bCRITICAL\b|Traceback \(most recent call last\)")
CSV_COLUMNS = ["elapsed_s", "pages_ended", "role", "pid", "rss_kib", "threads", "fds"]
ENDED = (PageStatus.SUCCEEDED.value, PageStatus.FAILED.value, PageStatus.CANCELED.value)


@dataclass(frozen=True)
class SoakConfig:
    """How big a soak is and what it must show."""

    pages: int = 5000
    minutes: float = 60.0
    warmup: int = 500  # pages before the RSS baseline is taken
    rss_bound: float = 0.10  # RSS growth allowed from the baseline to the end
    sample_seconds: float = 5.0
    # fds the late run may hold over the early one: the GPU worker's Redis and database pools
    # each open one more connection the first time its threads overlap that much, at any
    # point of a run; a leak keeps climbing past this.
    fd_slack: int = 2
    in_flight: int = 40  # pages submitted but not ended, at most
    drain_seconds: float = 300.0


# --- /proc ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcSample:
    """One process at one moment."""

    pid: int
    rss_kib: int
    threads: int
    fds: int


def proc_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc/<pid>/task/<tid>/children."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:  # the task ended between the glob and the read
                continue
    return tree


def read_proc(pid: int) -> ProcSample | None:
    """RSS and threads from /proc/<pid>/status, fds from /proc/<pid>/fd; None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields.get("VmRSS", "0 kB").split()[0])
    return ProcSample(pid, rss, int(fields["Threads"]), fds)


def port(address: str) -> int:
    """The port of a /proc/net/tcp address (``0100007F:18EB``)."""
    return int(address.rsplit(":", 1)[1], 16)


def socket_peers(pid: int) -> dict[str, str]:
    """Socket inode -> ``tcp-listen:<port>``, ``tcp-in:<port>`` (accepted on a listening
    port) or ``tcp-out:<remote port>``, from /proc/<pid>/net/tcp and tcp6."""
    rows = []
    for table in ("tcp", "tcp6"):
        try:
            rows += [
                r.split() for r in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            ]
        except OSError:
            continue
    listening = {port(r[1]) for r in rows if r[3] == "0A"}
    peers = {}
    for r in rows:
        if r[3] == "0A":
            peers[r[9]] = f"tcp-listen:{port(r[1])}"
        elif port(r[1]) in listening:
            peers[r[9]] = f"tcp-in:{port(r[1])}"
        else:
            peers[r[9]] = f"tcp-out:{port(r[2])}"
    return peers


def fd_kinds(pid: int) -> Counter[str]:
    """What a process's fds are: tcp:<remote port>, socket, pipe, anon_inode:..., or a path."""
    kinds: Counter[str] = Counter()
    peers = socket_peers(pid)
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            target = peers.get(target[8:-1], "socket")
        elif target.startswith("pipe:"):
            target = "pipe"
        kinds[target] += 1
    return kinds


# --- load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One request of the mix: where it goes, the file, and the pages it holds."""

    route: str
    name: str
    data: bytes
    content_type: str
    pages: int


def texts(serial: int, count: int) -> list[str]:
    """Distinct lines, so that no document is a duplicate of an earlier one."""
    return [f"soak document {serial} page {p} folio {serial * 7 + p}" for p in range(count)]


def archive_members(serial: int) -> dict[str, bytes]:
    """A zip's worth of documents two folders deep: 8 pages in 5 members."""
    t = texts(serial, 8)
    return {
        f"box{serial}/png/a.png": png_bytes(t[0]),
        f"box{serial}/jpeg/b.jpg": jpeg_bytes(t[1]),
        f"box{serial}/pdf/c.pdf": pdf_bytes(t[2:5]),
        f"box{serial}/tiff/d.tif": tiff_bytes(t[5:7]),
        f"box{serial}/e.png": png_bytes(t[7]),
    }


def the_mix() -> Iterator[Submission]:
    """A steady cycle of 24 pages: 4 PNGs, 2 JPEGs, a 5-page PDF, a 3-page TIFF, a zip of 8."""
    for serial in itertools.count():
        kind = serial % 9
        if kind in (0, 2, 4, 6):
            yield Submission("/v1/jobs", "page.png", png_bytes(texts(serial, 1)[0]), "image/png", 1)
        elif kind in (1, 5):
            data = jpeg_bytes(texts(serial, 1)[0])
            yield Submission("/v1/jobs", "page.jpg", data, "image/jpeg", 1)
        elif kind == 3:
            data = pdf_bytes(texts(serial, 5))
            yield Submission("/v1/jobs", "doc.pdf", data, "application/pdf", 5)
        elif kind == 7:
            data = tiff_bytes(texts(serial, 3))
            yield Submission("/v1/jobs", "scan.tif", data, "image/tiff", 3)
        else:
            data = zip_of(archive_members(serial))
            yield Submission("/v1/batches", "box.zip", data, "application/zip", 8)


class Progress:
    """Pages of the soak's tenant by status, straight from the database."""

    def __init__(self, database_url: str, tenant_id: str) -> None:
        self.engine = build_engine(database_url)
        self.sessions = build_sessionmaker(self.engine)
        self.tenant_id = tenant_id

    def counts(self) -> dict[str, int]:
        query = (
            select(Page.status, func.count())
            .join(Job, Job.id == Page.job_id)
            .where(Job.tenant_id == self.tenant_id)
            .group_by(Page.status)
        )
        with self.sessions() as session:
            return {str(status): int(n) for status, n in session.execute(query)}

    def ended(self) -> int:
        counts = self.counts()
        return sum(counts.get(s, 0) for s in ENDED)

    def close(self) -> None:
        self.engine.dispose()


def soak_tenant(env: dict[str, str]) -> tuple[str, str]:
    """A new tenant of the soak's own and an API key for it: (tenant id, key)."""
    secret = env.get("QUIRE_SECRET_KEY", DEV_SECRET_KEY)  # the key the API will hash with
    engine = build_engine(env["QUIRE_DATABASE_URL"])
    with transaction(build_sessionmaker(engine)) as session:
        tenant = ensure_tenant(session, f"soak-{os.getpid()}-{int(time.time())}")
        key = issue_api_key(session, tenant, secret)
        tenant_id = tenant.id
    engine.dispose()
    return tenant_id, key


# --- sampling ---------------------------------------------------------------------------


@dataclass
class Sampler:
    """Samples every stack process (children included) every few seconds into a CSV."""

    stack: Stack
    progress: Progress
    csv_path: Path
    seconds: float
    warmup: int = 0
    rows: list[dict[str, float | int | str]] = field(default_factory=list)
    fds_at: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)  # warm-up, end
    _stop: threading.Event = field(default_factory=threading.Event)
    _started: float = field(default_factory=time.monotonic)

    def sample(self) -> None:
        elapsed = round(time.monotonic() - self._started, 1)
        ended = self.progress.ended()
        fresh: list[dict[str, float | int | str]] = []
        for role, proc in list(self.stack.procs.items()):
            for pid in proc_tree(proc.pid):
                seen = read_proc(pid)
                if seen is None:
                    continue
                row: dict[str, float | int | str] = {"elapsed_s": elapsed, "pages_ended": ended}
                row |= {"role": role, "pid": pid, "rss_kib": seen.rss_kib}
                fresh.append(row | {"threads": seen.threads, "fds": seen.fds})
        self.rows += fresh
        if ended >= self.warmup and "warm-up" not in self.fds_at:
            self.fds_at["warm-up"] = self.fd_inventory()
        with self.csv_path.open("a", newline="") as out:  # kept whole if the run dies
            csv.DictWriter(out, fieldnames=CSV_COLUMNS).writerows(fresh)

    def run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.sample()

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        with self.csv_path.open("w", newline="") as out:
            csv.DictWriter(out, fieldnames=CSV_COLUMNS).writeheader()
        self.sample()
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.sample()
            self.fds_at["end"] = self.fd_inventory()

    def fd_inventory(self) -> dict[str, Counter[str]]:
        """Each role's fds by kind, summed over its process tree."""
        return {
            role: sum((fd_kinds(pid) for pid in proc_tree(proc.pid)), Counter())
            for role, proc in list(self.stack.procs.items())
        }

    def fd_changes(self) -> list[str]:
        """The fd kinds whose count differs between the warm-up and the end, per role."""
        start, end = self.fds_at.get("warm-up", {}), self.fds_at.get("end", {})
        lines = []
        for role in sorted(set(start) | set(end)):
            before, after = start.get(role, Counter()), end.get(role, Counter())
            for kind in sorted(set(before) | set(after)):
                if before[kind] != after[kind]:
                    lines.append(f"{role}: {kind} {before[kind]} -> {after[kind]}")
        return lines


@dataclass(frozen=True)
class RolePoint:
    """One role's process tree summed at one sample."""

    elapsed_s: float
    pages: int
    rss_mib: float
    threads: int
    fds: int


def by_role(rows: list[dict[str, float | int | str]]) -> dict[str, list[RolePoint]]:
    """The samples summed over each role's process tree, in time order."""
    sums: dict[tuple[str, float], list[float]] = {}
    for row in rows:
        total = sums.setdefault((str(row["role"]), float(row["elapsed_s"])), [0, 0, 0, 0])
        total[0] = float(row["pages_ended"])
        total[1] += float(row["rss_kib"]) / 1024
        total[2] += float(row["threads"])
        total[3] += float(row["fds"])
    series: dict[str, list[RolePoint]] = {}
    for (role, elapsed), (pages, rss, threads, fds) in sorted(sums.items()):
        point = RolePoint(elapsed, int(pages), rss, int(threads), int(fds))
        series.setdefault(role, []).append(point)
    return series


# --- verdict ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleVerdict:
    """What one role's samples show against the targets."""

    role: str
    rss_start_mib: float
    rss_end_mib: float
    fds_early: int
    fds_late: int
    threads_early: int
    threads_late: int

    @property
    def rss_growth(self) -> float:
        return self.rss_end_mib / self.rss_start_mib - 1


def judge_role(role: str, points: list[RolePoint], warmup: int) -> RoleVerdict:
    """RSS: median of 3 samples from the first with ``warmup`` pages ended, against the
    median of the last 3. FDs and threads after the warm-up: the highest of the last third
    against the highest of the first third (a leak climbs; a busy moment does not last)."""
    after = [p for p in points if p.pages >= warmup] or points[-3:]
    third = max(1, len(after) // 3)
    early, late = after[:third], after[-third:]
    return RoleVerdict(
        role,
        statistics.median(p.rss_mib for p in after[:3]),
        statistics.median(p.rss_mib for p in after[-3:]),
        max(p.fds for p in early),
        max(p.fds for p in late),
        max(p.threads for p in early),
        max(p.threads for p in late),
    )


@dataclass
class SoakResult:
    """A finished soak: its counts, each role's verdict, the errors in the logs."""

    pages_ended: int
    pages_failed: int
    pages_submitted: int
    minutes: float
    roles: list[RoleVerdict]
    log_errors: dict[str, list[str]]
    rss_bound: float
    exited: dict[str, int] = field(default_factory=dict)  # processes that died, exit codes
    fd_changes: list[str] = field(default_factory=list)  # fd kinds, warm-up against the end
    fd_slack: int = 0

    def problems(self) -> list[str]:
        """Each target missed, in words; empty when the soak passed."""
        found = [f"{self.pages_failed} failed pages"] if self.pages_failed else []
        if self.pages_ended < self.pages_submitted:
            found.append(f"{self.pages_submitted - self.pages_ended} pages never ended")
        for r in self.roles:
            if r.rss_growth > self.rss_bound:
                found.append(f"{r.role}: RSS grew {r.rss_growth:+.1%} (> {self.rss_bound:.0%})")
            if r.fds_late > r.fds_early + self.fd_slack:
                found.append(f"{r.role}: fds {r.fds_early} -> {r.fds_late}")
            if r.threads_late > r.threads_early:
                found.append(f"{r.role}: threads {r.threads_early} -> {r.threads_late}")
        found += [f"{name}: {len(lines)} error lines" for name, lines in self.log_errors.items()]
        found += [f"{name} exited ({code}) during the run" for name, code in self.exited.items()]
        return found

    def report(self) -> str:
        lines = [
            f"pages ended {self.pages_ended} of {self.pages_submitted} submitted, "
            f"{self.pages_failed} failed, in {self.minutes:.1f} min",
            "| process | RSS after warm-up (MiB) | RSS at end (MiB) | growth | fds early/late "
            "| threads early/late |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.roles:
            lines.append(
                f"| {r.role} | {r.rss_start_mib:.0f} | {r.rss_end_mib:.0f} | "
                f"{r.rss_growth:+.1%} | {r.fds_early} / {r.fds_late} | "
                f"{r.threads_early} / {r.threads_late} |"
            )
        problems = self.problems()
        lines += [f"fds changed after the warm-up: {c}" for c in self.fd_changes]
        lines.append("verdict: " + ("PASS" if not problems else "FAIL: " + "; ".join(problems)))
        return "\n".join(lines)


def log_errors(logs: Path) -> dict[str, list[str]]:
    """The lines of each process log that report an error."""
    found: dict[str, list[str]] = {}
    for path in sorted(logs.glob("*.log")):
        bad = [ln for ln in path.read_bytes().splitlines() if LOG_ERROR.search(ln)]
        if bad:
            found[path.stem] = [ln.decode(errors="replace")[:300] for ln in bad]
    return found


# --- plot -------------------------------------------------------------------------------


def plot(series: dict[str, list[RolePoint]], warmup: int, bound: float, path: Path) -> None:
    """RSS against its value after the warm-up, fds and threads of each role against pages
    ended, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True)
    for role, points in series.items():
        pages = [p.pages for p in points]
        base = next((p.rss_mib for p in points if p.pages >= warmup), points[-1].rss_mib)
        rss = [100 * (p.rss_mib / base - 1) for p in points]
        axes[0].plot(pages, rss, label=f"{role} ({base:.0f} MiB)", linewidth=1)
        axes[1].plot(pages, [p.fds for p in points], label=role, linewidth=1)
        axes[2].plot(pages, [p.threads for p in points], label=role, linewidth=1)
    axes[0].axhline(100 * bound, color="red", linestyle="--", linewidth=1)
    axes[0].set_ylim(-15, max(20, 100 * bound + 5))
    labels = ("RSS vs warm-up (%)", "open fds", "threads")
    for axis, label in zip(axes, labels, strict=True):
        axis.set_ylabel(label)
        axis.axvline(warmup, color="grey", linestyle=":", linewidth=1)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2, loc="lower right")
    axes[2].set_xlabel("pages ended (dotted: end of warm-up; dashed: RSS target)")
    figure.suptitle("quire soak: each process with its children", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def read_samples(path: Path) -> list[dict[str, float | int | str]]:
    """The rows of a soak's ``samples.csv``, to plot a finished run again."""
    with path.open(newline="") as source:
        return [dict(row) for row in csv.DictReader(source)]


# --- the run ----------------------------------------------------------------------------


def submit(client: httpx.Client, item: Submission) -> None:
    files = {"file": (item.name, item.data, item.content_type)}
    response = client.post(item.route, files=files, timeout=60)
    if response.status_code == 429:  # the rate limit: wait as told and send it again
        time.sleep(float(response.headers.get("Retry-After", "1")))
        response = client.post(item.route, files=files, timeout=60)
    response.raise_for_status()


def feed(stack: Stack, key: str, progress: Progress, config: SoakConfig) -> int:
    """Keep ``config.in_flight`` pages in flight until ``config.pages`` are submitted or the
    time is up; then wait for them to end. Returns the pages submitted."""
    deadline = time.monotonic() + config.minutes * 60
    submitted, mix = 0, the_mix()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stack.url, headers=headers) as client:
        while submitted < config.pages and time.monotonic() < deadline:
            if submitted - progress.ended() >= config.in_flight:
                time.sleep(0.5)
                continue
            item = next(mix)
            submit(client, item)
            submitted += item.pages
    drain_until = time.monotonic() + config.drain_seconds
    while progress.ended() < submitted and time.monotonic() < drain_until:
        time.sleep(1)
    return submitted


def run_soak(env: dict[str, str], out: Path, config: SoakConfig) -> SoakResult:
    """Start the stack on ``env``, feed it, sample it, stop it; the verdict and the files."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):  # the logs are appended to; an earlier run's would count
        old.unlink()
    database_url = env["QUIRE_DATABASE_URL"]
    tenant_id, key = soak_tenant(env)
    progress = Progress(database_url, tenant_id)
    stack = Stack(env, logs)
    started = time.monotonic()
    try:
        stack.start_api()
        stack.start_worker("cpu")
        stack.start_worker("gpu")
        stack.start_sweeper()
        sampler = Sampler(
            stack, progress, out / "samples.csv", config.sample_seconds, config.warmup
        )
        with sampler.running():
            submitted = feed(stack, key, progress, config)
        counts = progress.counts()
        exited = {n: p.returncode for n, p in stack.procs.items() if p.poll() is not None}
    finally:
        stack.stop_all()
        progress.close()
    series = by_role(sampler.rows)
    (out / "fd_changes.txt").write_text("".join(f"{line}\n" for line in sampler.fd_changes()))
    plot(series, config.warmup, config.rss_bound, out / "soak.png")
    return SoakResult(
        pages_ended=sum(counts.get(s, 0) for s in ENDED),
        pages_failed=counts.get(PageStatus.FAILED.value, 0),
        pages_submitted=submitted,
        minutes=(time.monotonic() - started) / 60,
        roles=[judge_role(r, series[r], config.warmup) for r in ROLES if r in series],
        log_errors=log_errors(logs),
        rss_bound=config.rss_bound,
        exited=exited,
        fd_changes=sampler.fd_changes(),
        fd_slack=config.fd_slack,
    )


@contextmanager
def soak_env(out: Path) -> Iterator[dict[str, str]]:
    """The caller's environment with the soak's defaults filled in (see the module doc)."""
    env = {**os.environ, **OFFLINE, "PYTHONUNBUFFERED": "1"}
    env.setdefault("QUIRE_DATA_DIR", str(out / "data"))
    own_redis = "QUIRE_REDIS_URL" not in env
    if own_redis:
        env["QUIRE_REDIS_URL"] = os.environ.get("QUIRE_TEST_REDIS_URL", DEFAULT_REDIS)
    with ExitStack() as resources:
        if "QUIRE_DATABASE_URL" not in env:
            admin = os.environ.get("QUIRE_TEST_DATABASE_URL", DEFAULT_PG)
            env["QUIRE_DATABASE_URL"] = resources.enter_context(
                temporary_pg_database(admin, "quire_soak")
            )
        else:
            upgrade(env["QUIRE_DATABASE_URL"])
        if own_redis:  # a test database of the soak's own: stale messages would count
            redis.Redis.from_url(env["QUIRE_REDIS_URL"]).flushdb()
        yield env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=60.0, help="stop submitting after")
    parser.add_argument("--warmup", type=int, default=500, help="pages before the baseline")
    parser.add_argument("--rss-bound", type=float, default=0.10)
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument(
        "--fd-slack", type=int, default=SoakConfig.fd_slack, help="fds a process may gain"
    )
    parser.add_argument("--out", type=Path, default=Path(".quire/soak"))
    parser.add_argument("--replot", action="store_true", help="plot --out's samples again")
    args = parser.parse_args()
    if args.replot:
        series = by_role(read_samples(args.out / "samples.csv"))
        plot(series, args.warmup, args.rss_bound, args.out / "soak.png")
        return
    config = SoakConfig(
        args.pages, args.minutes, args.warmup, args.rss_bound, args.sample_seconds, args.fd_slack
    )
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with soak_env(out) as env:
        print(f"engine {env.get('QUIRE_ENGINE', 'mixed')}; writing {out}", flush=True)
        result = run_soak(env, out, config)
    from bench.common import machine

    print(f"machine: {machine()}")
    print(result.report())
    for name, lines in result.log_errors.items():
        print(f"--- {name}: first error lines ---", *lines[:5], sep="\n")
    sys.exit(0 if not result.problems() else 1)


if __name__ == "__main__":
    main()
