"""Benchmark 2: pages/s end to end (API submit -> Celery -> GPU worker -> DB) divided by
pages/s of the bare engine on the same pages, same machine, one run.

The pipeline is `quire run` (API, CPU worker, GPU worker as processes; SQLite, local store,
embedded Redis); the bare engine is the same engine built in this process. Default engine:
PP-OCR's detector + TrOCR with the small-size architecture (random weights, fixed tokens).

    .venv/bin/python bench/pipeline_efficiency.py [--pages 8] [--lines 10] [--tokens 24]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from PIL import Image

from bench.common import machine, printed_page
from shared.settings import Settings
from worker.engines.registry import build_engine
from worker.engines.trocr_build import build_trocr

REPO = Path(__file__).resolve().parents[1]


def png(pixels: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")  # type: ignore[arg-type]
    return out.getvalue()


def bare_pages_per_second(env: dict[str, str], pages: list) -> float:
    settings = Settings(
        **{k.removeprefix("QUIRE_").lower(): v for k, v in env.items() if k.startswith("QUIRE_")}
    )
    engine = build_engine(settings)
    engine.run(pages[:1])  # warm-up
    start = time.perf_counter()
    engine.run(pages)
    elapsed = time.perf_counter() - start
    del engine
    gc.collect()
    return len(pages) / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_terminal(client: httpx.Client, job_ids: list[str], timeout: float) -> list[dict]:
    deadline, jobs = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        jobs = [client.get(f"/v1/jobs/{j}").json() for j in job_ids]
        if all(j["status"] in ("succeeded", "failed", "partial") for j in jobs):
            return jobs
        time.sleep(0.2)
    raise TimeoutError(f"jobs not finished: {[j['status'] for j in jobs]}")


def pipeline_pages_per_second(env: dict[str, str], data: list[bytes], timeout: float) -> float:
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        env=env,
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        key_file = Path(env["QUIRE_DATA_DIR"]) / "dev-api-key"
        deadline = time.monotonic() + 120
        while not key_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"X-API-Key": key_file.read_text().strip()},
        )
        while time.monotonic() < deadline:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        submit = lambda blob: client.post(  # noqa: E731
            "/v1/jobs", files={"file": ("page.png", blob, "image/png")}
        ).json()["id"]
        wait_terminal(client, [submit(data[0])], timeout)  # warm-up: models loaded
        start = datetime.now().astimezone()
        ids = [submit(blob) for blob in data]
        jobs = wait_terminal(client, ids, timeout)
        assert all(j["status"] == "succeeded" for j in jobs), jobs
        end = max(datetime.fromisoformat(j["finished_at"]) for j in jobs)
        return len(data) / (end - start).total_seconds()
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    pages = [printed_page(args.lines, seed=i) for i in range(args.pages)]
    data = [png(p) for p in pages]
    with tempfile.TemporaryDirectory() as folder:
        model = build_trocr(args.size, Path(folder) / "recognizer")
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUIRE_")}
        env.update(
            {
                "QUIRE_DATA_DIR": str(Path(folder) / "data"),
                "QUIRE_ENGINE": "ppocr-trocr",
                "QUIRE_RECOGNIZER_MODEL": str(model),
                "QUIRE_DEVICE": args.device,
                "QUIRE_RECOGNIZER_MAX_NEW_TOKENS": str(args.tokens),
                "QUIRE_RECOGNIZER_MIN_NEW_TOKENS": str(args.tokens),
                "QUIRE_PPOCR_MIN_CONFIDENCE": "0",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "YOLO_OFFLINE": "1",
            }
        )
        bare = bare_pages_per_second(env, pages)
        piped = pipeline_pages_per_second(env, data, args.timeout)
    print(f"machine: {machine()}")
    print(
        f"engine ppocr-trocr ({args.size}), {args.pages} pages x {args.lines} lines, "
        f"{args.tokens} tokens per line"
    )
    print(
        f"bare engine: {bare:.3f} pages/s; pipeline: {piped:.3f} pages/s; "
        f"efficiency {piped / bare:.2f}"
    )


if __name__ == "__main__":
    main()
