"""Ground-truth pages as an ultralytics detection dataset: one class, the text line.

Layout: ``images/{train,val}/<name>`` and ``labels/{train,val}/<stem>.txt`` with one
``0 cx cy w h`` row per line (the line's box, normalised to the page), and ``data.yaml``.
Image names carry a hash of the ground-truth file's path, so pages of different sets that
share an image name do not collide.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from shared.groundtruth.model import Box, GtPage

CLASS_NAME = "text_line"
SPLITS = ("train", "val")
EXIF_ORIENTATION = 0x0112
JPEG_QUALITY = 95
MARKER = ".quire-yolo-dataset"  # says the folder is ours to rewrite on the next run


def write_yolo_dataset(
    train_pages: Iterable[GtPage],
    val_pages: Iterable[GtPage],
    out_dir: Path,
    image_size: int | None = None,
) -> Path:
    """Write a detection dataset for ultralytics and return its ``data.yaml``.

    Args:
        train_pages: Pages to train on.
        val_pages: Pages to validate on.
        out_dir: A folder that does not exist yet, is empty, or holds a dataset this wrote
            before (a rerun: that dataset is replaced).
        image_size: The training image size; images whose long side is above twice it are
            stored downscaled to that (labels are normalised, so they do not change).
            None keeps every image at its size.

    Returns:
        The path of ``data.yaml``.

    Raises:
        FileExistsError: ``out_dir`` holds other files (stale labels would mix in).
    """
    out_dir = Path(out_dir)
    _prepare(out_dir)
    max_side = image_size * 2 if image_size else None
    for split, pages in zip(SPLITS, (train_pages, val_pages), strict=True):
        images = out_dir / "images" / split
        labels = out_dir / "labels" / split
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for page in pages:
            name = store_image(page, images, max_side)
            (labels / f"{Path(name).stem}.txt").write_text(label_rows(page), encoding="utf-8")
    return _write_data_yaml(out_dir)


def _prepare(out_dir: Path) -> None:
    """An empty ``out_dir`` with this module's marker; a dataset written before is removed."""
    marker = out_dir / MARKER
    if out_dir.exists() and any(out_dir.iterdir()):
        if not marker.exists():
            raise FileExistsError(f"{out_dir} is not empty and holds no dataset written by quire")
        for folder in ("images", "labels"):
            shutil.rmtree(out_dir / folder, ignore_errors=True)
        (out_dir / "data.yaml").unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by training.yolo_dataset; rewritten on each run\n")


def label_rows(page: GtPage) -> str:
    """The page's label file: ``0 cx cy w h`` per line, normalised to the page's size."""
    return "".join(f"0 {_yolo_box(line.bbox, page.width, page.height)}\n" for line in page.lines)


def _yolo_box(bbox: Box, width: int, height: int) -> str:
    x0, y0, x1, y1 = bbox
    cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
    return f"{cx:.6f} {cy:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}"


def store_image(page: GtPage, folder: Path, max_side: int | None) -> str:
    """Put the page's image in ``folder`` and return the name it got there.

    The image is hard-linked (copied across file systems) when it can be used as stored;
    it is re-encoded, without EXIF, when it must be downscaled or carries an EXIF
    orientation, which image loaders would apply and the labels do not.
    """
    stem = f"{page.image.stem}-{_digest(page.source)}"
    with Image.open(page.image) as image:
        scale = max_side / max(image.size) if max_side is not None else 1.0
        if scale >= 1.0 and image.getexif().get(EXIF_ORIENTATION, 1) == 1:
            return _link(page.image, folder / f"{stem}{page.image.suffix.lower()}")
        stored = image.convert("RGB")
    if scale < 1.0:
        size = (max(1, round(stored.width * scale)), max(1, round(stored.height * scale)))
        stored = stored.resize(size, Image.Resampling.BILINEAR)
    stored.save(folder / f"{stem}.jpg", quality=JPEG_QUALITY)
    return f"{stem}.jpg"


def _link(source: Path, target: Path) -> str:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target.name


def _digest(source: Path) -> str:
    return hashlib.sha1(source.as_posix().encode("utf-8")).hexdigest()[:10]


def _write_data_yaml(out_dir: Path) -> Path:
    # JSON strings are YAML strings: quoting a path this way needs no YAML library.
    yaml = (
        f"path: {json.dumps(str(out_dir.resolve()))}\n"
        "train: images/train\n"
        "val: images/val\n"
        "names:\n"
        f"  0: {CLASS_NAME}\n"
    )
    path = out_dir / "data.yaml"
    path.write_text(yaml, encoding="utf-8")
    return path
