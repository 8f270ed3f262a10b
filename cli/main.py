"""The ``quire`` command: one entry point for the server processes and admin tasks."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

# Client commands run the client package alone: it imports no server code.
CLIENT_COMMANDS = ("submit", "status", "results", "jobs", "batches", "datasets", "trainings")
CLIENT_MODEL_VERBS = ("list", "promote", "delete")  # `models build` stays the server's


def is_client_command(words: Sequence[str]) -> bool:
    """Whether the words name a client command (``train --remote``: the server trains)."""
    if not words:
        return False
    if words[0] == "train":
        return "--remote" in words
    if words[0] == "models":
        return len(words) > 1 and words[1] in CLIENT_MODEL_VERBS
    return words[0] in CLIENT_COMMANDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run API and workers locally on embedded defaults")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--workers",
        type=int,
        default=None,
        help="API processes sharing the port (default QUIRE_API_WORKERS, 1)",
    )

    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", default="cpu", help="comma-separated: cpu, gpu, train")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="default: QUIRE_GPU_CONCURRENCY for gpu, 1 for train, 2 for cpu",
    )
    worker.add_argument(
        "--pool",
        default=None,
        choices=["prefork", "threads", "solo"],
        help="default: threads for gpu (pages share the batchers), else prefork",
    )

    models = sub.add_parser("models", help="engine models")
    models.add_argument("action", choices=["build"])
    models.add_argument("--size", choices=["tiny", "small", "base"], default="tiny")
    models.add_argument("--out", required=True, help="folder for detector.pt and recognizer/")
    models.add_argument("--seed", type=int, default=0)

    for name, text in (
        ("submit", "client: send a file, folder or archive (`quire submit --help`)"),
        ("status", "client: show a job's or batch's progress"),
        ("results", "client: download results into a folder"),
        ("jobs", "client: list your jobs, newest first, with filters"),
        ("batches", "client: list your batches, newest first, with filters"),
        ("datasets", "client: push, list, show, delete datasets to train on"),
        ("trainings", "client: watch, list, show, cancel trainings on the server"),
    ):
        sub.add_parser(name, help=text, add_help=False)
    sub.add_parser("sweeper", help="run the periodic sweeper (webhook retries, retention)")
    sub.add_parser("scaler", help="publish the GPU queue's autoscaling metrics")

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    from cli import keys_cmd

    keys_cmd.register(sub)
    from cli import tenants_cmd

    tenants_cmd.register(sub)
    from cli import train_cmd

    train_cmd.register(sub)
    from cli import eval_cmd

    eval_cmd.register(sub)
    from cli import synth_cmd

    synth_cmd.register(sub)
    from cli import backup_cmd

    backup_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command."""
    words = list(sys.argv[1:] if argv is None else argv)
    if is_client_command(words):
        from quire_client.main import main as client_main

        return client_main(words)
    args = _parser().parse_args(words)
    if args.command == "train":
        from cli import train_cmd

        return train_cmd.run(args)
    if args.command == "synth":
        from cli import synth_cmd

        return synth_cmd.run(args)
    from shared.logging_setup import configure_logging
    from shared.settings import Settings

    try:
        settings = Settings()
    except ValueError as e:
        print(f"quire: invalid settings: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "eval":
        from cli import eval_cmd

        return eval_cmd.run(args, settings)
    if args.command == "run":
        from cli.local_run import run_local

        return run_local(settings, args.host, args.port)
    if args.command == "api":
        return _serve_api(settings, args.host, args.port, args.workers or settings.api_workers)
    if args.command == "worker":
        from worker.celery_app import run_worker
        from worker.libarchive_reader import LibArchiveMissing

        queues = args.queues.split(",")
        gpu = "gpu" in queues
        pool = args.pool or ("threads" if gpu else "prefork")
        # One training at a time per worker: a training uses the whole device.
        default = settings.gpu_concurrency if gpu else (1 if queues == ["train"] else 2)
        concurrency = args.concurrency or default
        try:
            run_worker(settings, queues, concurrency, pool)
        except LibArchiveMissing as e:
            print(f"quire: {e}", file=sys.stderr)
            return 2
        return 0
    if args.command in ("sweeper", "scaler"):
        return _run_periodic(settings, args.command)
    if args.command == "models":
        return _build_models(args.size, args.out, args.seed)
    if args.command == "db":
        from shared.db.migrate import upgrade

        upgrade(settings.effective_database_url)
        return 0
    if args.command in ("backup", "restore"):
        from cli import backup_cmd

        return backup_cmd.run(args, settings)
    if args.command == "tenants":
        from cli import tenants_cmd

        return tenants_cmd.run(args, settings)
    from cli import keys_cmd

    return keys_cmd.run(args, settings)


def _run_periodic(settings: Settings, command: str) -> int:
    """Run the sweeper or the scaler until SIGTERM or Ctrl-C."""
    import signal
    import threading

    from shared.celery_config import build_celery
    from worker.context import WorkerContext

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ctx = WorkerContext.build(settings, producer=build_celery(settings, name=f"quire-{command}"))
    logging.getLogger(f"quire.{command}").info("%s running", command)
    if command == "sweeper":
        from worker.sweeper import run_sweeper

        run_sweeper(ctx, stop)
    else:
        from shared.redis_client import redis_from_url
        from worker.scaling.scaler import run_scaler

        run_scaler(ctx, redis_from_url(settings.broker_url), stop)
    ctx.close()
    return 0


def _build_models(size: str, out: str, seed: int) -> int:
    from pathlib import Path

    from worker.engines.trocr_build import build_trocr
    from worker.engines.yolo_build import build_yolo

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    detector = build_yolo(size, folder / "detector.pt", seed=seed)
    recognizer = build_trocr(size, folder / "recognizer", seed=seed)
    print(f"QUIRE_DETECTOR_MODEL={detector.resolve()}")
    print(f"QUIRE_RECOGNIZER_MODEL={recognizer.resolve()}")
    print("random weights: for tests and speed benchmarks, not for accuracy")
    return 0


def _serve_api(settings: Settings, host: str, port: int, workers: int) -> int:
    import uvicorn

    from api.app import create_app

    # One process builds its app here; several each build theirs from the environment.
    app: object = create_app(settings) if workers == 1 else "api.app:create_app_from_env"
    uvicorn.run(
        app,  # type: ignore[arg-type]
        factory=workers > 1,
        workers=workers,
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
