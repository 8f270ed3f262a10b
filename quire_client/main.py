"""The client commands: ``quire submit``, ``status``, ``results``, ``jobs`` and ``batches``;
``datasets``, ``train``, ``trainings`` and ``models`` (``training_cli``).

Every ``ClientError`` is turned into ``error: ...`` on stderr and exit code 2 here, at this
one boundary; waiting ends with 0 (succeeded, or a dataset ready), 3 (partial) or 4 (failed,
canceled, or a training that did not converge).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from quire_client.api import DEFAULT_URL, QuireApi
from quire_client.errors import ClientError
from quire_client.formats import parse_formats
from quire_client.listing import add_list_options, print_listing, query_of
from quire_client.models import Job
from quire_client.progress import Progress, bars_enabled
from quire_client.results import download_batch, download_job
from quire_client.submit import SubmitOptions, run_submit, saved_line
from quire_client.summary import describe
from quire_client.training_cli import COMMANDS as TRAINING_COMMANDS
from quire_client.training_cli import register as register_training_commands

DEV_KEY_FILE = Path(".quire", "dev-api-key")
EXIT_INTERRUPTED = 130
FORMAT_HELP = "comma-separated json, txt, hocr, alto, pagexml, pdf, or all (default json)"


def resolve_url(given: str | None, environ: Mapping[str, str]) -> str:
    """``--url``, else ``QUIRE_URL``, else the local default."""
    return given or environ.get("QUIRE_URL") or DEFAULT_URL


def resolve_api_key(given: str | None, environ: Mapping[str, str], cwd: Path) -> str | None:
    """``--api-key``, else ``QUIRE_API_KEY``, else the key the local dev server wrote."""
    if given:
        return given
    if environ.get("QUIRE_API_KEY"):
        return environ["QUIRE_API_KEY"]
    try:
        return (cwd / DEV_KEY_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _formats(text: str) -> list[str]:
    try:
        return parse_formats(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _metadata(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"server (default: $QUIRE_URL or {DEFAULT_URL})")
    common.add_argument(
        "--api-key", help="default: $QUIRE_API_KEY, else ./.quire/dev-api-key if it exists"
    )
    common.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_argument(
        "--progress", action="store_true", help="draw progress bars even when not on a terminal"
    )
    common.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per connect or read (default 60)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The parser of the client commands."""
    common = _common()
    parser = argparse.ArgumentParser(prog="quire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", parents=[common], help="send a file, folder or archive")
    submit.add_argument(
        "path", type=Path, help="an image, PDF, TIFF, archive (zip, 7z, RAR, tar) or folder"
    )
    submit.add_argument("--priority", choices=["interactive", "bulk"])
    submit.add_argument("--callback-url", help="webhook called when it finishes")
    submit.add_argument("--metadata", type=_metadata, help="a JSON object kept with it")
    submit.add_argument(
        "--model", help="a model id or shipped name, or DETECTOR+RECOGNIZER (`quire models list`)"
    )
    submit.add_argument("--wait", action="store_true", help="wait until it finishes")
    submit.add_argument("--out", type=Path, help="download results here (implies --wait)")
    submit.add_argument("--format", type=_formats, default=["json"], help=FORMAT_HELP)
    submit.add_argument("--state-file", type=Path, help="resume state (default: beside PATH)")
    status = sub.add_parser("status", parents=[common], help="a job's or batch's progress")
    status.add_argument("id", help="a job or batch id; or job:ID, batch:ID")
    status.add_argument("--json", action="store_true", help="print the server's JSON")
    results = sub.add_parser("results", parents=[common], help="download results")
    results.add_argument("id", help="a job or batch id; or job:ID, batch:ID")
    results.add_argument("--out", type=Path, required=True, help="folder for the results")
    results.add_argument("--format", type=_formats, default=["json"], help=FORMAT_HELP)
    for kind, name in (("job", "jobs"), ("batch", "batches")):
        listing = sub.add_parser(name, parents=[common], help=f"list your {name}, newest first")
        add_list_options(listing, kind)
    register_training_commands(sub, common)
    return parser


def _submit(api: QuireApi, args: argparse.Namespace, progress: Progress, out: TextIO) -> int:
    options = SubmitOptions(
        path=args.path,
        priority=args.priority,
        callback_url=args.callback_url,
        metadata=args.metadata,
        model=args.model,
        wait=args.wait or args.out is not None,
        out=args.out,
        formats=args.format,
        state_path=args.state_file,
    )
    return run_submit(api, options, progress, out)


def _status(api: QuireApi, args: argparse.Namespace, progress: Progress, out: TextIO) -> int:
    resource = api.get_resource(args.id)
    print(json.dumps(resource.raw, indent=2) if args.json else describe(resource), file=out)
    return 0


def _results(api: QuireApi, args: argparse.Namespace, progress: Progress, out: TextIO) -> int:
    resource = api.get_resource(args.id)
    if not resource.terminal:
        progress.note(f"{resource.kind} {resource.id} is {resource.status}: results so far")
    if isinstance(resource, Job):
        report = download_job(api, resource, args.format, args.out)
    else:
        report = download_batch(api, resource.id, args.format, args.out, progress)
    progress.note(saved_line(report, args.out))
    return 0


def _list(api: QuireApi, args: argparse.Namespace, progress: Progress, out: TextIO) -> int:
    print_listing(api, query_of(args), args.json, out)
    return 0


Command = Callable[[QuireApi, argparse.Namespace, Progress, TextIO], int]
COMMANDS: dict[str, Command] = {
    "submit": _submit,
    "status": _status,
    "results": _results,
    "jobs": _list,
    "batches": _list,
    **TRAINING_COMMANDS,
}


def run(
    argv: Sequence[str],
    *,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``main`` with its surroundings passed in (tests give a mock transport and streams)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(list(argv))
    progress = Progress(bars_enabled(args.quiet, err, forced=args.progress), err)
    api_key = resolve_api_key(args.api_key, os.environ, Path.cwd())
    url = resolve_url(args.url, os.environ)
    try:
        with QuireApi(url, api_key, timeout=args.timeout, transport=transport, sleep=sleep) as api:
            return COMMANDS[args.command](api, args, progress, out)
    except ClientError as e:
        print(f"error: {e}", file=err)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run one client command; ``argv[0]`` names it (``submit``, ``status``, ``datasets``...).

    Returns:
        The exit code: 0 done, 2 error, 3 partial, 4 failed, canceled or did not converge,
        130 interrupted.
    """
    return run(sys.argv[1:] if argv is None else argv)
