"""The models quire trained and ships in ``models/``, loadable by name offline.

``models/<name>/`` holds one weights file (``detector.pt`` or ``recognizer.pt``) and its
``MODEL_CARD.md``. ``QUIRE_BUILTIN_MODELS`` points elsewhere (the worker image copies them to
``/opt/quire/models``).
"""

from __future__ import annotations

import os
from pathlib import Path

DETECTOR = "quire-lines-yolov8n"
RECOGNIZER = "quire-htr-crnn"
WEIGHT_FILES = ("detector.pt", "recognizer.pt")
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def builtin_root() -> Path:
    """Where the shipped models are: ``QUIRE_BUILTIN_MODELS`` or the checkout's ``models/``."""
    return Path(os.environ.get("QUIRE_BUILTIN_MODELS") or REPO_MODELS)


def builtin_path(name: str) -> Path | None:
    """The weights file of the shipped model ``name``; None if there is no such model."""
    if not name or "/" in name or name.startswith("."):
        return None
    folder = builtin_root() / name
    for file in WEIGHT_FILES:
        if (folder / file).is_file():
            return folder / file
    return None


def builtin_names() -> list[str]:
    """Every shipped model's name."""
    root = builtin_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if builtin_path(p.name) is not None)
