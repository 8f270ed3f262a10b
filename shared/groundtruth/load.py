"""Ground-truth files (PAGE XML or ALTO) into the pages training and evaluation use.

A file imports when it is safe, well-formed PAGE XML or ALTO, its image is found and
readable, the sizes agree, and at least one line is usable. Each line's text goes through
``normalize_text``; its points are clipped to the page; its ``bbox`` is the bounds of its
polygon, else the box the file gives, else its baseline widened to the page's typical line
height. Problems carry stable codes:

- per file (nothing of it imports): ``unreadable_xml``, ``malformed_xml``, ``unsafe_xml``,
  ``unknown_format``, ``unsupported_unit``, ``multiple_pages``, ``missing_image``,
  ``unreadable_image``, ``image_size_mismatch``, ``no_lines``, ``duplicate_image`` (a
  second file for an image already imported, as sets that ship each page as both PAGE XML
  and ALTO do: the first file in path order is kept, so a page never counts twice nor lands
  on both sides of a split);
- per line (the page imports without it): ``empty_line``, ``zero_area_line``,
  ``invalid_coords``, ``duplicate_line_id`` (the first line with the id is kept).
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from shared.groundtruth.alto import alto_version, read_alto
from shared.groundtruth.geometry import (
    NO_BOX,
    baseline_box,
    bounds,
    clip_box,
    clip_points,
    has_area,
)
from shared.groundtruth.images import ImageFinder, image_size
from shared.groundtruth.model import (
    GroundTruthError,
    GtLine,
    GtPage,
    GtProblem,
    GtScan,
    Point,
)
from shared.groundtruth.pagexml import page_version, read_pagexml
from shared.groundtruth.safe_xml import parse_xml
from shared.textnorm import normalize_text

# A page whose lines all lack a polygon and a box: lines this fraction of the page tall.
FALLBACK_LINE_HEIGHT_SHARE = 1 / 40
# Fewer points than this and a polygon encloses nothing, a baseline has no direction: ignored.
POLYGON_MIN_POINTS = 3
BASELINE_MIN_POINTS = 2


def parse_ground_truth(xml_path: Path | str, image_dirs: Iterable[Path] = ()) -> GtPage:
    """One ground-truth file as a page; bad lines are left out (``scan_ground_truth`` says why).

    Args:
        xml_path: A PAGE XML or ALTO file.
        image_dirs: Folders to look the page image up in after those around the file.

    Returns:
        The page, its image resolved and its lines finished (see the module's docstring).

    Raises:
        GroundTruthError: The file cannot be imported; ``code`` is one of the per-file codes.
    """
    page, _ = import_page(Path(xml_path), ImageFinder(image_dirs))
    return page


def scan_ground_truth(
    paths: Iterable[Path | str], image_dirs: Iterable[Path] = (), max_pixels: int | None = None
) -> GtScan:
    """Every ground-truth file under ``paths`` imported, each bad one noted and passed over.

    Args:
        paths: Files, or folders searched recursively for ``*.xml`` (hidden ones skipped).
        image_dirs: Folders to look page images up in after those around each file.
        max_pixels: Pages whose image is larger are passed over (``image_too_large``).

    Returns:
        The pages in sorted path order, and every problem met, per file and per line.
    """
    images = ImageFinder(image_dirs)
    scan = GtScan()
    imported: dict[Path, Path] = {}  # each image's file, resolved, to the file imported for it
    for xml_path in ground_truth_files(paths):
        try:
            page, problems = import_page(xml_path, images)
        except GroundTruthError as e:
            scan.problems.append(GtProblem(xml_path, e.code, e.message))
            continue
        first = imported.setdefault(page.image.resolve(), xml_path)
        if first != xml_path:
            message = f"its image {page.image.name} is already imported from {first}"
            scan.problems.append(GtProblem(xml_path, "duplicate_image", message))
            continue
        if max_pixels is not None and page.width * page.height > max_pixels:
            size = f"{page.width}x{page.height}"
            message = f"the page image ({size}) is over the {max_pixels}-pixel limit"
            scan.problems.append(GtProblem(xml_path, "image_too_large", message))
            continue
        scan.pages.append(page)
        scan.problems.extend(problems)
    return scan


def ground_truth_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """The files ``paths`` names: a file as given, a folder's ``*.xml`` sorted; each once."""
    seen: set[Path] = set()
    for path in map(Path, paths):
        for file in _xml_files(path) if path.is_dir() else [path]:
            if file not in seen:
                seen.add(file)
                yield file


def _xml_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for here, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(here, f) for f in files if f.lower().endswith(".xml") and not f.startswith(".")
        ]
    return sorted(found)


def import_page(xml_path: Path, images: ImageFinder) -> tuple[GtPage, list[GtProblem]]:
    """One ground-truth file as a page, with the problems of the lines left out.

    Args:
        xml_path: A PAGE XML or ALTO file.
        images: Where to look its image up.

    Returns:
        The finished page and its per-line problems.

    Raises:
        GroundTruthError: The file cannot be imported; ``code`` is one of the per-file codes.
    """
    raw, problems = read_raw_page(xml_path)
    name = "" if raw.image == Path() else str(raw.image)
    image = images.find(xml_path, name)
    if image is None:
        raise GroundTruthError(
            "missing_image",
            f"{name or xml_path.stem + '.*'} is not beside the file, in the folder above or "
            "beside it, or in the image folders",
        )
    width, height = _page_size(raw, image)
    lines, line_problems = finish_lines(raw.lines, width, height, xml_path)
    problems += line_problems
    if not lines:
        raise GroundTruthError("no_lines", _no_lines_reason(len(raw.lines), problems))
    page = replace(raw, image=image, width=width, height=height, lines=tuple(lines))
    return page, problems


def read_raw_page(xml_path: Path) -> tuple[GtPage, list[GtProblem]]:
    """A file read as PAGE XML or ALTO, whichever its root is, before any line is checked.

    Raises:
        GroundTruthError: ``unreadable_xml``, ``unsafe_xml``, ``malformed_xml``,
            ``unknown_format``, or what the format's reader raises.
    """
    try:
        data = xml_path.read_bytes()
    except OSError as e:
        raise GroundTruthError("unreadable_xml", f"cannot read the file: {e}") from e
    root = parse_xml(data)
    if page_version(root) is not None:
        return read_pagexml(root, xml_path)
    if alto_version(root) is not None:
        return read_alto(root, xml_path)
    raise GroundTruthError("unknown_format", f"root element {root.tag} is not PAGE XML or ALTO")


def _page_size(raw: GtPage, image: Path) -> tuple[int, int]:
    """The image's size, which a size the file declares must equal."""
    width, height = image_size(image)
    declared = (raw.width, raw.height)
    if declared != (0, 0) and declared != (width, height):
        raise GroundTruthError(
            "image_size_mismatch",
            f"the file declares {raw.width}x{raw.height}, {image.name} is {width}x{height}",
        )
    return width, height


def _no_lines_reason(count: int, problems: Sequence[GtProblem]) -> str:
    if not count:
        return "the page has no TextLine"
    codes = Counter(problem.code for problem in problems)
    return f"none of its {count} lines is usable: " + ", ".join(
        f"{n} {code}" for code, n in sorted(codes.items())
    )


def finish_lines(
    lines: Sequence[GtLine], width: int, height: int, source: Path
) -> tuple[list[GtLine], list[GtProblem]]:
    """Raw lines made usable (text normalised, points clipped, box set), bad ones left out.

    Args:
        lines: The lines as a format's reader gives them, in reading order.
        width: The page's width in pixels.
        height: The page's height.
        source: The file they come from, for the problems.

    Returns:
        The usable lines in their order, and a problem per line left out.
    """
    line_height = typical_line_height(lines, width, height)
    kept: list[GtLine] = []
    problems: list[GtProblem] = []
    ids: set[str] = set()
    for line in lines:
        finished = _finish_line(line, width, height, line_height)
        if isinstance(finished, tuple):
            problems.append(GtProblem(source, *finished, line_id=line.id))
        elif finished.id in ids:
            problems.append(
                GtProblem(source, "duplicate_line_id", "an earlier line has this id", line.id)
            )
        else:
            ids.add(finished.id)
            kept.append(finished)
    return kept, problems


def _finish_line(
    line: GtLine, width: int, height: int, line_height: float
) -> GtLine | tuple[str, str]:
    """The usable line, or the ``(code, message)`` saying why it is not."""
    text = normalize_text(line.text)
    if not text:
        return "empty_line", "no text after normalisation"
    polygon = _clipped(line.polygon, POLYGON_MIN_POINTS, width, height)
    baseline = _clipped(line.baseline, BASELINE_MIN_POINTS, width, height)
    if polygon:
        bbox = bounds(polygon)
    elif line.bbox != NO_BOX:
        bbox = clip_box(line.bbox, width, height)
    elif baseline:
        bbox = clip_box(baseline_box(baseline, line_height), width, height)
    else:
        return "zero_area_line", "the line has no polygon, box or baseline"
    if not has_area(bbox):
        return "zero_area_line", f"its box {bbox} covers no pixel of the {width}x{height} page"
    return replace(line, text=text, bbox=bbox, polygon=polygon, baseline=baseline)


def typical_line_height(lines: Sequence[GtLine], width: int, height: int) -> float:
    """The median height of the lines with a polygon or a box on the page.

    Used to widen lines known only by a baseline; ``FALLBACK_LINE_HEIGHT_SHARE`` of the
    page's height where no line has a polygon or a box.
    """
    heights = []
    for line in lines:
        polygon = line.polygon or ()
        raw_box = bounds(polygon) if len(polygon) >= POLYGON_MIN_POINTS else line.bbox
        box = clip_box(raw_box, width, height)  # the same as the clipped polygon's bounds
        if has_area(box):
            heights.append(box[3] - box[1])
    return statistics.median(heights) if heights else max(1.0, height * FALLBACK_LINE_HEIGHT_SHARE)


def _clipped(
    points: tuple[Point, ...] | None, minimum: int, width: int, height: int
) -> tuple[Point, ...] | None:
    """The points clipped to the page; None when there are fewer than ``minimum``."""
    if points is None or len(points) < minimum:
        return None
    return clip_points(points, width, height)
