"""Finding the page image a ground-truth file names, and reading its size from the header.

Real sets keep images beside the XML, in the folder above it (``page/`` under the images), or
in a sibling folder (``alto/`` and ``jpg/`` side by side); some convert the images and keep
the old name in the XML. So a name is looked up in that order of folders, then in the
folders the caller gives; first by exact name, then by stem with any image suffix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from shared.groundtruth.model import GroundTruthError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
_PATH_SEPARATORS = re.compile(r"[/\\]")


class ImageFinder:
    """Looks page images up by name; folder listings are read once and cached.

    Args:
        image_dirs: Folders searched after those around the XML file, in order.
    """

    def __init__(self, image_dirs: Iterable[Path] = ()):
        self._image_dirs = tuple(Path(d) for d in image_dirs)
        self._files: dict[Path, dict[str, Path]] = {}
        self._subdirs: dict[Path, list[Path]] = {}

    def find(self, xml_path: Path, name: str) -> Path | None:
        """The image a ground-truth file names.

        Args:
            xml_path: The ground-truth file.
            name: The image's name as the file gives it (a bare name, a relative or Windows
                path, or a URL); blank to look the XML's own stem up.

        Returns:
            The first match: the relative path beside the XML, then the bare name in each
            folder, then the stem with an image suffix in each folder; None if none matches.
        """
        base = _PATH_SEPARATORS.split(name.strip().split("?")[0])[-1]
        relative = Path(name.strip())
        nested = base != name.strip() and "://" not in name and not relative.is_absolute()
        if nested and (xml_path.parent / relative).is_file():
            return xml_path.parent / relative
        folders = self._folders(xml_path)
        if base:
            for folder in folders:
                if base in self._listing(folder):
                    return self._listing(folder)[base]
        stem = Path(base).stem if base else xml_path.stem
        for folder in folders:
            match = _by_stem(self._listing(folder), stem)
            if match is not None:
                return match
        return None

    def _folders(self, xml_path: Path) -> list[Path]:
        here = xml_path.parent
        siblings = [d for d in self._subdir_listing(here.parent) if d != here]
        return list(dict.fromkeys([here, here.parent, *siblings, *self._image_dirs]))

    def _listing(self, folder: Path) -> dict[str, Path]:
        if folder not in self._files:
            self._read(folder)
        return self._files[folder]

    def _subdir_listing(self, folder: Path) -> list[Path]:
        if folder not in self._subdirs:
            self._read(folder)
        return self._subdirs[folder]

    def _read(self, folder: Path) -> None:
        files: dict[str, Path] = {}
        subdirs: list[Path] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir():
                        subdirs.append(Path(entry.path))
                    elif entry.is_file():
                        files[entry.name] = Path(entry.path)
        except OSError:
            pass  # a folder that cannot be listed holds no image we can use
        self._files[folder] = files
        self._subdirs[folder] = sorted(subdirs)


def _by_stem(files: dict[str, Path], stem: str) -> Path | None:
    """The file named ``stem`` plus an image suffix (any case), preferring earlier suffixes."""
    for suffix in IMAGE_SUFFIXES:
        for name in (stem + suffix, stem + suffix.upper()):
            if name in files:
                return files[name]
    return None


def image_size(path: Path) -> tuple[int, int]:
    """The stored width and height of an image, from its header (EXIF orientation ignored).

    Raises:
        GroundTruthError: ``unreadable_image`` when the file is not an image PIL can open.
    """
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise GroundTruthError("unreadable_image", f"{path.name}: {e}") from e
