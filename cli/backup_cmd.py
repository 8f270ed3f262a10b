"""``quire backup`` and ``quire restore``: the database and the object store, to a folder and
back (docs/backup.md is the runbook)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.settings import Settings

DEFAULT_JOBS = 8


def register(sub: Any) -> None:
    """Add the ``backup`` and ``restore`` commands to the ``quire`` parser."""
    backup = sub.add_parser(
        "backup", help="dump the database, then copy every stored object, into a new folder"
    )
    backup.add_argument("--out", required=True, type=Path, help="a new or empty folder")
    backup.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="objects copied at once")
    restore = sub.add_parser(
        "restore", help="restore a backup into an empty database and an empty store"
    )
    restore.add_argument(
        "--from", dest="source", required=True, type=Path, help="a folder `quire backup` made"
    )
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace a database that has tables; overwrite the backup's keys in the store",
    )
    restore.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="objects copied at once")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``backup`` or ``restore``; 0 on success, 1 with the reason on stderr."""
    from shared.backup import create_backup, restore_backup
    from shared.errors import QuireError

    if args.jobs < 1:
        print(f"quire {args.command}: --jobs must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.command == "backup":
            create_backup(settings, args.out, _progress, jobs=args.jobs)
        else:
            restore_backup(settings, args.source, _progress, force=args.force, jobs=args.jobs)
    except QuireError as e:
        print(f"quire {args.command}: {e.message}", file=sys.stderr)
        return 1
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
