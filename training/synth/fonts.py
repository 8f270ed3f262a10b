"""Handwriting fonts: fetch them into a cache with their licences, load them as faces.

``python -m training.synth.fonts fetch`` (``make fonts``) packs ``@fontsource/<family>`` npm
packages and downloads Debian ``fonts-*`` packages into the cache (``.quire/fonts``, or
``QUIRE_FONT_CACHE``, or ``--dir``) and writes ``manifest.json``: per family its files,
source package, version and the licence read from the package itself. Only licences that
allow redistributing rendered data are kept.

A Fontsource family is split into unicode-range subsets; ``FontFace`` merges a family's
latin and latin-ext files and picks, per character, the file whose cmap holds it.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import ImageFont

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_CACHE = Path(".quire/fonts")
CACHE_ENV = "QUIRE_FONT_CACHE"

# Latin-first everyday hands (OFL-1.1 or Apache-2.0 upstream; the licence is still read from
# each package), print and cursive, plus pen scripts close to the copperplate that letters
# were written in (allura, italianno, parisienne, ...). Left out: CJK/Thai/Malayalam-first
# families, brush and sign-painting display scripts (pacifico, cookie, yellowtail, damion,
# monsieur-la-doulaise), and hands whose lowercase is drawn as capitals (amatic-sc,
# permanent-marker, rock-salt, gochi-hand): their images would not match their text.
NPM_FAMILIES: tuple[str, ...] = (
    "allura",
    "annie-use-your-telescope",
    "architects-daughter",
    "bad-script",
    "birthstone",
    "caveat",
    "caveat-brush",
    "cedarville-cursive",
    "comic-neue",
    "courgette",
    "covered-by-your-grace",
    "dancing-script",
    "delicious-handrawn",
    "delius",
    "gloria-hallelujah",
    "handlee",
    "herr-von-muellerhoff",
    "homemade-apple",
    "indie-flower",
    "italianno",
    "kalam",
    "kaushan-script",
    "mansalva",
    "marck-script",
    "mr-de-haviland",
    "ms-madi",
    "neucha",
    "oooh-baby",
    "parisienne",
    "patrick-hand",
    "playpen-sans",
    "reenie-beanie",
    "sacramento",
    "satisfy",
    "schoolbell",
    "shadows-into-light",
    "short-stack",
    "sue-ellen-francisco",
    "swanky-and-moo-moo",
    "tangerine",
    "the-girl-next-door",
    "whisper",
)
NPM_SUBSETS = ("latin", "latin-ext")
NPM_WEIGHT = 400

# Debian packages with Latin hands; None keeps every font file the package ships.
DEBIAN_PACKAGES: dict[str, tuple[str, ...] | None] = {
    "fonts-ecolier-court": None,
    "fonts-breip": ("Breip.ttf",),
    "fonts-kristi": None,
    "fonts-sjfonts": None,  # GPL with a font exception: read, then refused
    "fonts-femkeklaver": None,  # CC-BY-SA-3.0: read, then refused
    "fonts-dkg-handwriting": ("dkg.ttf",),  # the built TTF is GPL-3+: refused
}

# Licences under which rendered images may be redistributed as training data.
ALLOWED_LICENSES = frozenset({"OFL-1.1", "OFL-1.0", "Apache-2.0", "CC0-1.0", "MIT"})
FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")

# System faces used when the cache is empty (tests, CI): printed, but always installed.
SYSTEM_FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
SYSTEM_FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansCondensed-Oblique.ttf",
    "LiberationSans-Italic.ttf",
    "LiberationSerif-Italic.ttf",
)


@dataclass(frozen=True)
class FontFace:
    """One hand: a family's files in preference order and the code points each one holds.

    Picklable (paths and sets only), so worker processes get it by value; Pillow fonts
    are opened per process by ``pil_fonts``.
    """

    family: str
    paths: tuple[Path, ...]
    coverage: tuple[frozenset[int], ...] = field(repr=False)
    license: str = "unknown"
    source: str = ""

    def file_for(self, char: str) -> int | None:
        """Index of the first file whose cmap holds ``char``; None when none does."""
        code = ord(char)
        for index, codes in enumerate(self.coverage):
            if code in codes:
                return index
        return None

    def covers(self, text: str) -> bool:
        """True when every character of ``text`` (spaces aside) is in one of the files."""
        return all(ch.isspace() or self.file_for(ch) is not None for ch in text)

    def missing(self, text: str) -> set[str]:
        """The characters of ``text`` that no file of this face can draw."""
        return {ch for ch in text if not ch.isspace() and self.file_for(ch) is None}

    def pil_fonts(self, size: int) -> tuple[ImageFont.FreeTypeFont, ...]:
        """The Pillow fonts at ``size`` px, one per file, in ``paths`` order."""
        return tuple(_open_font(str(path), size) for path in self.paths)


@lru_cache(maxsize=512)
def _open_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass
class PackageResult:
    """What fetching one package gave: its manifest record and the families it holds."""

    package: str
    version: str = ""
    license: str = ""
    status: str = "ok"  # ok | refused | failed
    reason: str = ""
    fonts: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "license": self.license,
            "status": self.status,
            "reason": self.reason,
        }


def default_cache_dir() -> Path:
    """``QUIRE_FONT_CACHE`` when set, else ``.quire/fonts`` under the working directory."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


# --- licences ------------------------------------------------------------------------------

_LICENSE_ALIASES = {
    "sil-1.1": "OFL-1.1",
    "sil-ofl-1.1": "OFL-1.1",
    "sil_open_font_license_1.1": "OFL-1.1",
    "ofl-1.1": "OFL-1.1",
    "ofl": "OFL-1.1",
    "ofl-1.0": "OFL-1.0",
    "apache-2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "cc-by-sa-3": "CC-BY-SA-3.0",
    "cc-by-sa-3.0": "CC-BY-SA-3.0",
    "cc0-1.0": "CC0-1.0",
    "mit": "MIT",
}
# Phrases that name a licence in free text, in the order they are tried at each position.
_LICENSE_PHRASES = (
    (re.compile(r"open font license,? version 1\.1", re.I), "OFL-1.1"),
    (re.compile(r"open font license,? version 1\.0", re.I), "OFL-1.0"),
    (re.compile(r"apache license,? version 2\.0", re.I), "Apache-2.0"),
    (re.compile(r"gnu general public license", re.I), "GPL"),
    (re.compile(r"creative commons", re.I), "CC"),
)


def normalize_license(name: str) -> str:
    """An SPDX-like id for a licence name as Debian or npm writes it (``SIL-1.1`` → OFL-1.1)."""
    key = name.strip().lower()
    return _LICENSE_ALIASES.get(key, name.strip())


def license_in_text(text: str) -> str | None:
    """The licence that free text names first (a LICENSE file, an old-style copyright)."""
    flat = " ".join(text.split())
    found = [(m.start(), lic) for rx, lic in _LICENSE_PHRASES for m in rx.finditer(flat)]
    return min(found)[1] if found else None


def debian_license(copyright_text: str, font_file: str) -> str | None:
    """The licence a Debian ``copyright`` file gives ``font_file``.

    Machine-readable (DEP-5) files: the last ``Files:`` stanza whose pattern matches wins,
    as the format specifies. Free-form files: the first licence the text names.
    """
    if not copyright_text.lstrip().startswith("Format:"):
        return license_in_text(copyright_text)
    found = None
    for stanza in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:[ \t]*(\S+)", stanza, re.M)
        if not files or not lic:
            continue
        patterns = files.group(1).split()
        if any(_dep5_match(font_file, p) for p in patterns if not p.startswith("debian/")):
            found = normalize_license(lic.group(1))
    return found


def _dep5_match(font_file: str, pattern: str) -> bool:
    return fnmatch.fnmatch(font_file, pattern) or fnmatch.fnmatch(Path(font_file).name, pattern)


def npm_license(package_dir: Path) -> tuple[str | None, str]:
    """The licence of an unpacked npm package: ``package.json`` checked against ``LICENSE``.

    Returns:
        (licence id or None, reason when None).
    """
    meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    declared = normalize_license(str(meta.get("license") or ""))
    license_file = package_dir / "LICENSE"
    if not license_file.exists():
        return None, "no LICENSE file"
    in_text = license_in_text(license_file.read_text(encoding="utf-8", errors="replace"))
    if in_text != declared:
        return None, f"package.json says {declared!r}, LICENSE reads as {in_text!r}"
    return declared, ""


# --- fetching ------------------------------------------------------------------------------


def fetch_npm(slug: str, cache_dir: Path) -> PackageResult:
    """``npm pack @fontsource/<slug>`` in a temporary folder; keep weight-400 latin files."""
    result = PackageResult(package=f"@fontsource/{slug}")
    with tempfile.TemporaryDirectory(prefix="quire-npm-") as tmp:
        try:
            out = _run(["npm", "pack", result.package, "--json", "--pack-destination", tmp], tmp)
        except RuntimeError as e:
            return _failed(result, str(e))
        packed = json.loads(out)[0]
        result.version = str(packed["version"])
        with tarfile.open(Path(tmp) / packed["filename"]) as tar:
            tar.extractall(tmp, filter="data")
        package_dir = Path(tmp) / "package"
        license_id, reason = npm_license(package_dir)
        result.license = license_id or ""
        if license_id not in ALLOWED_LICENSES:
            return _refused(result, reason or f"licence {license_id} not allowed")
        family = json.loads((package_dir / "metadata.json").read_text(encoding="utf-8"))
        files = _npm_font_files(package_dir / "files", slug)
        if not files:
            return _failed(result, "no latin font file")
        target = cache_dir / slug
        target.mkdir(parents=True, exist_ok=True)
        for path in [*files, package_dir / "LICENSE"]:
            shutil.copyfile(path, target / path.name)
        result.fonts.append(
            _font_record(
                str(family.get("family") or slug),
                [target / p.name for p in files],
                cache_dir,
                result,
                target / "LICENSE",
            )
        )
    return result


def _npm_font_files(files_dir: Path, slug: str) -> list[Path]:
    """Per subset the weight closest to 400, upright; woff before woff2 (zlib, no brotli)."""
    chosen = []
    for subset in NPM_SUBSETS:
        pattern = re.compile(rf"^{re.escape(slug)}-{re.escape(subset)}-(\d+)-normal\.(woff2?)$")
        candidates = []
        for path in files_dir.glob("*"):
            match = pattern.match(path.name)
            if match:
                weight, ext = int(match.group(1)), match.group(2)
                candidates.append((abs(weight - NPM_WEIGHT), ext != "woff", path))
        if candidates:
            chosen.append(min(candidates)[2])
    return chosen


def unpack_debian(package: str, root: Path) -> str:
    """``apt-get download`` one package into a temporary folder and ``dpkg -x`` it into ``root``.

    Returns:
        The package's version.

    Raises:
        RuntimeError: apt-get or dpkg failed (no network, unknown package, no apt lists).
    """
    with tempfile.TemporaryDirectory(prefix="quire-deb-") as tmp:
        _run(["apt-get", "download", package], tmp)
        debs = sorted(Path(tmp).glob("*.deb"))
        if not debs:
            raise RuntimeError(f"apt-get download {package} left no .deb")
        version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], tmp).strip()
        _run(["dpkg", "-x", str(debs[0]), str(root)], tmp)
    return version


def fetch_debian(package: str, keep: tuple[str, ...] | None, cache_dir: Path) -> PackageResult:
    """Unpack a Debian font package in a temporary folder; keep fonts its licence allows."""
    result = PackageResult(package=f"deb:{package}")
    with tempfile.TemporaryDirectory(prefix="quire-deb-") as tmp:
        root = Path(tmp) / "root"
        try:
            result.version = unpack_debian(package, root)
        except RuntimeError as e:
            return _failed(result, str(e))
        copyright_file = root / "usr/share/doc" / package / "copyright"
        if not copyright_file.exists():
            return _refused(result, "no copyright file")
        text = copyright_file.read_text(encoding="utf-8", errors="replace")
        fonts = sorted(p for p in root.rglob("*") if p.suffix.lower() in FONT_SUFFIXES)
        fonts = [p for p in fonts if keep is None or p.name in keep]
        licenses = {p: debian_license(text, p.name) for p in fonts}
        allowed = [p for p in fonts if licenses[p] in ALLOWED_LICENSES]
        result.license = ",".join(sorted({str(v) for v in licenses.values()}))
        if not allowed:
            return _refused(result, f"licence {result.license or 'unknown'} not allowed")
        target = cache_dir / package
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(copyright_file, target / "copyright")
        for path in allowed:
            shutil.copyfile(path, target / path.name)
            family = _family_name(target / path.name)
            record = _font_record(
                family, [target / path.name], cache_dir, result, target / "copyright"
            )
            record["license"] = licenses[path]
            result.fonts.append(record)
    return result


def _font_record(
    family: str, paths: list[Path], cache_dir: Path, result: PackageResult, license_file: Path
) -> dict[str, Any]:
    return {
        "family": family,
        "files": [str(p.relative_to(cache_dir)) for p in paths],
        "coverage": [format_ranges(read_cmap(p)) for p in paths],
        "package": result.package,
        "version": result.version,
        "license": result.license,
        "license_file": str(license_file.relative_to(cache_dir)),
    }


def _family_name(path: Path) -> str:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        names = font["name"]
        name = names.getDebugName(16) or names.getDebugName(1)
    return name or path.stem


def _run(cmd: list[str], cwd: str) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:  # no such program, or it hung
        raise RuntimeError(f"{' '.join(cmd[:2])}: {e}") from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{' '.join(cmd[:2])} exited {proc.returncode}: {tail[0]}")
    return proc.stdout


def _failed(result: PackageResult, reason: str) -> PackageResult:
    result.status, result.reason = "failed", reason
    return result


def _refused(result: PackageResult, reason: str) -> PackageResult:
    result.status, result.reason = "refused", reason
    return result


@dataclass
class FetchSummary:
    """What one ``fetch`` run did, package by package."""

    fetched: list[PackageResult] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[PackageResult] = field(default_factory=list)
    failed: list[PackageResult] = field(default_factory=list)
    families: int = 0
    cache_bytes: int = 0

    def lines(self) -> list[str]:
        out = [
            f"fetched {len(self.fetched)} package(s), {len(self.already)} already cached, "
            f"{len(self.refused)} refused, {len(self.failed)} failed",
        ]
        out += [f"  refused {r.package} {r.version}: {r.reason}" for r in self.refused]
        out += [f"  failed  {r.package}: {r.reason}" for r in self.failed]
        out.append(f"{self.families} families in the cache, {self.cache_bytes / 1e6:.1f} MB")
        return out


def fetch_fonts(
    cache_dir: Path,
    npm_families: Sequence[str] = NPM_FAMILIES,
    debian_packages: dict[str, tuple[str, ...] | None] | None = None,
    jobs: int = 8,
) -> FetchSummary:
    """Fetch every package the manifest does not already hold, in parallel; update it.

    Args:
        cache_dir: The font cache; created when missing.
        npm_families: ``@fontsource`` slugs to fetch.
        debian_packages: Debian package → font files to keep (None: all); default
            ``DEBIAN_PACKAGES``; skipped as a whole when ``apt-get`` is not installed.
        jobs: Packages fetched at the same time.

    Returns:
        The summary; ``manifest.json`` is written whatever happened.
    """
    debian = DEBIAN_PACKAGES if debian_packages is None else debian_packages
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(cache_dir)
    done = {p["package"] for p in manifest["packages"] if p["status"] in ("ok", "refused")}
    tasks: list[tuple[str, Any]] = [
        (f"@fontsource/{slug}", (fetch_npm, slug, cache_dir)) for slug in npm_families
    ]
    if shutil.which("apt-get") and shutil.which("dpkg"):
        tasks += [(f"deb:{p}", (fetch_debian, p, keep, cache_dir)) for p, keep in debian.items()]
    summary = FetchSummary(already=[name for name, _ in tasks if name in done])
    todo = [call for name, call in tasks if name not in done]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda call: call[0](*call[1:]), todo))
    for result in results:
        _merge(manifest, result)
        {"ok": summary.fetched, "refused": summary.refused}.get(
            result.status, summary.failed
        ).append(result)
    write_manifest(cache_dir, manifest)
    summary.families = len(manifest["fonts"])
    summary.cache_bytes = sum(p.stat().st_size for p in cache_dir.rglob("*") if p.is_file())
    return summary


def _merge(manifest: dict[str, Any], result: PackageResult) -> None:
    manifest["packages"] = [p for p in manifest["packages"] if p["package"] != result.package]
    manifest["packages"].append(result.record())
    manifest["fonts"] = [f for f in manifest["fonts"] if f["package"] != result.package]
    manifest["fonts"].extend(result.fonts)
    manifest["packages"].sort(key=lambda p: p["package"])
    manifest["fonts"].sort(key=lambda f: (f["family"].lower(), f["package"]))


def read_manifest(cache_dir: Path) -> dict[str, Any]:
    """The cache's ``manifest.json``, or an empty one when there is none yet."""
    path = cache_dir / MANIFEST
    if not path.exists():
        return {"version": MANIFEST_VERSION, "fonts": [], "packages": []}
    data = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("fonts", [])
    data.setdefault("packages", [])
    return data


def write_manifest(cache_dir: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (a crash never leaves half a manifest)."""
    manifest["version"] = MANIFEST_VERSION
    tmp = cache_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(cache_dir / MANIFEST)


# --- coverage ------------------------------------------------------------------------------


def read_cmap(path: Path) -> frozenset[int]:
    """The code points a font file maps (fontTools; woff2 needs the ``brotli`` module).

    Cached per process by path, size and mtime: a large cmap takes fontTools ~60 ms.
    """
    stat = path.stat()
    return _read_cmap(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _read_cmap(path: str, size: int, mtime_ns: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # benign table quirks, not ours

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def format_ranges(codes: Iterable[int]) -> str:
    """Code points as compact hex ranges: ``20-7e,a0-ff``."""
    ordered = sorted(set(codes))
    parts: list[str] = []
    start = prev = None
    for code in [*ordered, None]:
        if start is not None and (code is None or code != prev + 1):  # type: ignore[operator]
            parts.append(f"{start:x}" if start == prev else f"{start:x}-{prev:x}")
            start = None
        if code is not None and start is None:
            start = code
        prev = code
    return ",".join(parts)


def parse_ranges(text: str) -> frozenset[int]:
    """The inverse of ``format_ranges``."""
    codes: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        codes.update(range(int(low, 16), int(high or low, 16) + 1))
    return frozenset(codes)


# --- loading -------------------------------------------------------------------------------


def load_fonts(cache_dir: Path) -> list[FontFace]:
    """The faces the cache's manifest lists, one per family, files merged in manifest order.

    Coverage comes from the manifest when it records it, else from each file's cmap.
    Families whose files are gone are left out.

    Args:
        cache_dir: A folder with ``manifest.json``.

    Returns:
        Faces sorted by family name; empty when there is no manifest.
    """
    faces = []
    for entry in read_manifest(cache_dir)["fonts"]:
        paths = tuple(cache_dir / f for f in entry["files"])
        if not paths or not all(p.exists() for p in paths):
            continue
        ranges = entry.get("coverage") or []
        if len(ranges) == len(paths):
            coverage = tuple(parse_ranges(r) for r in ranges)
        else:
            coverage = tuple(read_cmap(p) for p in paths)
        faces.append(
            FontFace(
                family=str(entry["family"]),
                paths=paths,
                coverage=coverage,
                license=str(entry.get("license") or "unknown"),
                source=f"{entry.get('package', '')} {entry.get('version', '')}".strip(),
            )
        )
    return sorted(faces, key=lambda f: (f.family.lower(), f.source))


def system_faces() -> list[FontFace]:
    """The fallback set: DejaVu/Liberation faces installed on the machine (never handwriting)."""
    found: dict[str, Path] = {}
    for folder in SYSTEM_FONT_DIRS:
        if folder.is_dir():
            for candidate in sorted(folder.rglob("*")):
                if candidate.name in SYSTEM_FONT_FILES and candidate.name not in found:
                    found[candidate.name] = candidate
    faces = []
    for name in SYSTEM_FONT_FILES:
        path = found.get(name)
        if path is not None:
            faces.append(
                FontFace(
                    family=path.stem,
                    paths=(path,),
                    coverage=(read_cmap(path),),
                    license="system",
                    source=str(path.parent),
                )
            )
    return faces


def available_faces(cache_dir: Path | None = None) -> list[FontFace]:
    """The cache's faces, or the system faces when the cache holds none.

    Raises:
        FileNotFoundError: Neither the cache nor the system has a usable font.
    """
    faces = load_fonts(cache_dir or default_cache_dir()) or system_faces()
    if not faces:
        raise FileNotFoundError("no fonts: run `make fonts` or install fonts-dejavu-core")
    return faces


# --- command line --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.synth.fonts fetch|list [--dir DIR] [--jobs N]``."""
    parser = argparse.ArgumentParser(prog="python -m training.synth.fonts", description=__doc__)
    parser.add_argument("action", choices=["fetch", "list"])
    parser.add_argument(
        "--dir", type=Path, default=None, help=f"default ${CACHE_ENV} or .quire/fonts"
    )
    parser.add_argument("--jobs", type=int, default=8, help="packages fetched at once")
    args = parser.parse_args(argv)
    cache_dir = args.dir or default_cache_dir()
    if args.action == "list":
        for face in load_fonts(cache_dir):
            print(f"{face.family:32} {face.license:12} {face.source}")
        return 0
    if not shutil.which("npm"):
        print("npm not found: install Node.js (apt-get install npm)", file=sys.stderr)
    summary = fetch_fonts(cache_dir, jobs=args.jobs)
    print("\n".join(summary.lines()))
    return 1 if summary.failed and not summary.families else 0


if __name__ == "__main__":
    sys.exit(main())
