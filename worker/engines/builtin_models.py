"""The models quire trained and ships in ``models/``, loadable by name offline.

``models/<name>/`` holds one weights file (``detector.pt`` or ``recognizer.pt``) and its
``MODEL_CARD.md``. ``QUIRE_BUILTIN_MODELS_DIR`` points elsewhere (the worker image copies them
to ``/opt/quire/models``).
"""

from __future__ import annotations

from pathlib import Path

from shared.model_registry import REPO_MODELS
from shared.model_registry import WEIGHT_FILES as WEIGHTS_BY_KIND

DETECTOR = "quire-lines-yolov8n"
RECOGNIZER = "quire-htr-crnn"
WEIGHT_FILES = tuple(WEIGHTS_BY_KIND.values())


def builtin_path(name: str, root: Path | None = None) -> Path | None:
    """The weights file of the shipped model ``name`` under ``root`` (default: the checkout's
    ``models/``); None if there is no such model."""
    if not name or "/" in name or name.startswith("."):
        return None
    folder = (root or REPO_MODELS) / name
    for file in WEIGHT_FILES:
        if (folder / file).is_file():
            return folder / file
    return None


def builtin_names(root: Path | None = None) -> list[str]:
    """Every shipped model's name."""
    folder = root or REPO_MODELS
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if builtin_path(p.name, folder) is not None)
