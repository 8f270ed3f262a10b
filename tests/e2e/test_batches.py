"""Bulk archives end to end through real processes (API, Celery CPU and GPU workers on
PostgreSQL, Redis and moto S3): the client CLI sends a three-level zip of PNG, JPEG, PDF and
TIFF documents with presigned uploads, waits with progress, and downloads every format; 7z
and RAR archives go in the same way with their folders kept; bulk work does not starve
interactive jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from shared.db.models import Job, Page
from shared.db.session import build_engine, build_sessionmaker
from tests.batch_inputs import mixed_tree, png_bytes, rar_of, seven_z_of, zip_of
from tests.e2e.conftest import REPO, Stack, poll_job, wait_for

pytestmark = pytest.mark.e2e
SUFFIXES = (".json", ".txt", ".hocr.html", ".alto.xml")


def client_cli(
    stack: Stack, key: str, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The client CLI as a user runs it: `quire submit|status|results ...`."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args, "--url", stack.url, "--api-key", key],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_sends_a_deep_zip_and_gets_every_page_in_every_format(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    tree = mixed_tree()
    archive = tmp_path / "collection.zip"
    archive.write_bytes(zip_of({f"archive/{k}": v for k, v in tree.items()}))
    out = tmp_path / "results"

    run = client_cli(
        stack, api_key, "submit", str(archive), "--progress", "--out", str(out), "--format", "all"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "%" in run.stderr  # the progress bars were drawn
    batch_id = run.stdout.strip().splitlines()[0].strip()

    status = client_cli(stack, api_key, "status", batch_id, "--json")
    summary = json.loads(status.stdout)
    assert summary["status"] == "succeeded" and summary["pages_done"] == 7, summary
    for path in tree:
        for suffix in SUFFIXES:
            assert (out / "archive" / (path + suffix)).is_file(), (path, suffix)
    texts = "".join((out / "archive" / (p + ".txt")).read_text() for p in tree).lower()
    for word in ("first", "second", "third", "fourth", "fifth", "sixth", "seventh"):
        assert word in texts
    pdf_pages = json.loads((out / "archive/box2/pdf/a/three.pdf.json").read_text())["pages"]
    assert len(pdf_pages) == 2
    assert (out / "archive/box2/tiff/b/five.tif.p0002.page.xml").is_file()

    # A user who lost the ids finds the batch and its jobs again.
    batches = client_cli(stack, api_key, "batches", "--status", "succeeded")
    assert batches.returncode == 0, batches.stderr
    assert batches.stdout.splitlines()[1].startswith(f"{batch_id}  succeeded")
    jobs = client_cli(stack, api_key, "jobs", "--batch", batch_id, "--all", "--json")
    listed = [json.loads(line) for line in jobs.stdout.splitlines()]
    assert len(listed) == len(tree) and {j["batch_id"] for j in listed} == {batch_id}
    assert {j["status"] for j in listed} == {"succeeded"}
    two = client_cli(stack, api_key, "jobs", "--limit", "2")
    assert len(two.stdout.splitlines()) == 3  # the header and two rows


def test_cli_sends_7z_and_rar_archives_with_their_folders_kept(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    tree = mixed_tree()
    for name, pack in (("letters.7z", seven_z_of), ("letters.rar", rar_of)):
        archive = tmp_path / name
        archive.write_bytes(pack({f"fonds/{k}": v for k, v in tree.items()}))
        out = tmp_path / f"results-{name}"
        run = client_cli(
            stack, api_key, "submit", str(archive), "--out", str(out), "--format", "txt"
        )
        assert run.returncode == 0, run.stdout + run.stderr
        batch_id = run.stdout.strip().splitlines()[0].strip()
        summary = json.loads(client_cli(stack, api_key, "status", batch_id, "--json").stdout)
        assert (summary["status"], summary["pages_done"]) == ("succeeded", 7), (name, summary)
        for path in tree:
            assert (out / "fonds" / (path + ".txt")).is_file(), (name, path)
        text = (out / "fonds/box1/jpeg/deep/two.jpg.txt").read_text().lower()
        assert "second" in text, (name, text)


def test_bulk_work_does_not_starve_interactive_jobs(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    stack.start_api()
    stack.start_worker("cpu")
    headers = {"Authorization": f"Bearer {api_key}"}
    files = [("files", (f"p{i}.png", png_bytes(f"bulk page {i}"), "image/png")) for i in range(12)]
    batch = httpx.post(f"{stack.url}/v1/batches", headers=headers, files=files, timeout=60).json()
    engine = build_engine(stack.env["QUIRE_DATABASE_URL"])
    sessions = build_sessionmaker(engine)

    def pages_of(batch_id: str | None, job_id: str | None = None) -> list[Page]:
        with sessions() as session:
            query = select(Page).join(Job, Job.id == Page.job_id)
            query = (
                query.where(Job.id == job_id) if job_id else query.where(Job.batch_id == batch_id)
            )
            return list(session.scalars(query))

    wait_for(lambda: len(pages_of(batch["id"])) == 12, 60, "the bulk pages to be queued")
    interactive = httpx.post(
        f"{stack.url}/v1/jobs",
        headers=headers,
        files={"file": ("now.png", png_bytes("urgent page"), "image/png")},
        timeout=30,
    ).json()
    wait_for(lambda: len(pages_of(None, interactive["id"])) == 1, 30, "the interactive page")
    time.sleep(0.5)

    stack.start("worker-gpu", "worker", "--queues", "gpu", "--concurrency", "1")
    poll_job(stack.url, api_key, interactive["id"], {"succeeded"}, timeout=120)
    urgent = pages_of(None, interactive["id"])[0].finished_at
    bulk_done = sorted(p.finished_at for p in pages_of(batch["id"]) if p.finished_at)
    engine.dispose()
    assert urgent is not None
    # Both were waiting when the worker started; the interactive page goes first (a bulk
    # page already taken may finish before it).
    assert sum(1 for t in bulk_done if t < urgent) <= 1, (urgent, bulk_done)
    wait_for(
        lambda: (
            httpx.get(f"{stack.url}/v1/batches/{batch['id']}", headers=headers).json()["status"]
            == "succeeded"
        ),
        180,
        "the bulk batch to finish",
    )
