"""The open ground truth quire's shipped models are trained and checked on, and how to bring it.

Every set here is published under CC-BY 4.0 (checked in each repository's LICENSE or README);
the model cards credit them. Nothing of them is committed: ``python -m training.open_data
fetch`` clones them (or copies them from a local git mirror) into a cache folder.

Two sets are never to be fetched, trained or tuned on: they are kept for independent
evaluation by others (``RESERVED``); ``fetch`` refuses them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path(".quire/gt")

RESERVED = frozenset(
    {
        "PSL-Chartes-HTR-Students/HN2021-Memorials_Jane_Lathrop_Stanford",
        "jschaefer738b/JosephHookerHTR",
    }
)


@dataclass(frozen=True)
class OpenSet:
    """One public ground-truth repository and what quire uses it for."""

    repo: str  # owner/name on GitHub
    licence: str
    language: str
    period: str
    role: str  # "train" or "dev" (held out: never trained on)
    note: str

    @property
    def folder(self) -> str:
        return self.repo.replace("/", "+")


SETS: tuple[OpenSet, ...] = (
    OpenSet(
        "banq-dcn/Copiste-d-un-jour",
        "CC-BY-4.0",
        "fra",
        "2024",
        "train",
        "Wikipedia summaries copied by hand by 267 volunteers (contemporary hands)",
    ),
    OpenSet(
        "HTR-United/CREMMA-AN-TestamentDePoilus",
        "CC-BY-4.0",
        "fra",
        "1914-1918",
        "train",
        "soldiers' wills, many hands",
    ),
    OpenSet(
        "HTR-United/CREMMA-MSS-19",
        "CC-BY-4.0",
        "fra",
        "19th c.",
        "train",
        "letters, drafts and records",
    ),
    OpenSet(
        "alix-tz/peraire-ground-truth",
        "CC-BY-4.0",
        "fra",
        "1928-1990",
        "train",
        "one writer's travel diaries",
    ),
    OpenSet(
        "HTR-United/lectaurep-mariages-et-divorces",
        "CC-BY-4.0",
        "fra",
        "1829-1928",
        "train",
        "notarial registers",
    ),
    OpenSet(
        "HTR-United/lectaurep-repertoires",
        "CC-BY-4.0",
        "fra",
        "1800-1950",
        "train",
        "notaries' repertoires: tables of acts, many clerks' hands",
    ),
    OpenSet(
        "HTR-United/lectaurep-bronod",
        "CC-BY-4.0",
        "fra",
        "19th c.",
        "train",
        "a notary's repertoire (Bronod), one study's clerks",
    ),
    OpenSet(
        "HTR-United/CREMMA-MSS-18",
        "CC-BY-4.0",
        "fra",
        "18th c.",
        "train",
        "letters, descriptions and records",
    ),
    OpenSet(
        "HTR-United/timeuscorpus",
        "CC-BY-4.0",
        "fra",
        "1858-1912",
        "train",
        "minutes of Paris labour tribunals (prud'hommes), clerks' hands",
    ),
    OpenSet(
        "HTR-United/CREMMA-MSS-20",
        "CC-BY-4.0",
        "fra",
        "20th c.",
        "dev",
        "letters and drafts; held out whole: hands never trained on",
    ),
)


def materialize(entry: OpenSet, out_dir: Path, mirror: Path | None) -> Path:
    """Bring one set into ``out_dir/<owner+name>``; a present folder is kept as it is.

    With ``mirror`` (a folder of bare git mirrors named ``owner+name/repo``), files are read
    from it; otherwise the repository is cloned. Blobs a mirror lacks are skipped and counted.
    """
    if entry.repo in RESERVED:
        raise ValueError(f"{entry.repo} is reserved for independent evaluation")
    target = out_dir / entry.folder
    if target.exists():
        return target
    partial = target.with_name(target.name + ".partial")
    if mirror is not None:
        _copy_from_mirror(mirror / entry.folder / "repo", partial)
    else:
        url = f"https://github.com/{entry.repo}.git"
        subprocess.run(["git", "clone", "--depth", "1", url, str(partial)], check=True)
    partial.rename(target)
    return target


def _copy_from_mirror(git_dir: Path, out: Path) -> None:
    listing = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", "-r", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    missing = 0
    for row in listing:
        meta, path = row.split("\t", 1)
        _, kind, sha = meta.split()
        if kind != "blob":
            continue
        blob = subprocess.run(
            ["git", "-C", str(git_dir), "cat-file", "blob", sha], capture_output=True
        )
        if blob.returncode:
            missing += 1
            continue
        destination = out / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(blob.stdout)
    if missing:
        print(f"{git_dir}: {missing} files not in the mirror, skipped", file=sys.stderr)


def set_folders(root: Path, role: str) -> list[Path]:
    """The materialized folders of every set with ``role`` ("train" or "dev")."""
    return [root / s.folder for s in SETS if s.role == role and (root / s.folder).exists()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.open_data", description=__doc__)
    parser.add_argument("action", choices=["fetch", "list"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--mirror", type=Path, default=os.environ.get("QUIRE_GT_MIRROR"))
    args = parser.parse_args(argv)
    for entry in SETS:
        if args.action == "list":
            print(f"{entry.role:5} {entry.licence:9} {entry.repo}  ({entry.period}; {entry.note})")
            continue
        path = materialize(entry, args.dir, Path(args.mirror) if args.mirror else None)
        print(f"{entry.repo} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
