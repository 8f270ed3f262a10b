"""Keep Ultralytics offline: call ``prepare_ultralytics`` before anything imports ``ultralytics``.

Ultralytics reads its settings folder and its offline switch once, at import time, and fetches
assets (fonts, weights) from GitHub when they are missing. Quire never lets it reach the network:
the environment is fixed first and the plotting font is placed locally from the system fonts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

LOG = logging.getLogger("quire.engine.yolo")

FONT_SOURCES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
FONT_NAME = "Arial.ttf"  # the name Ultralytics looks for before it tries to download one


def default_config_dir() -> Path:
    """The Ultralytics settings folder used when none is given.

    ``~/.cache/quire/ultralytics``, or a per-user folder under the system temp dir when the home
    folder is not writable.
    """
    home = Path.home() / ".cache" / "quire" / "ultralytics"
    with contextlib.suppress(OSError):
        home.mkdir(parents=True, exist_ok=True)
    if os.access(home, os.W_OK):
        return home
    return Path(tempfile.gettempdir()) / f"quire-ultralytics-{os.getuid()}"


def prepare_ultralytics(config_dir: Path | None = None) -> None:
    """Point Ultralytics at a local settings folder and forbid downloads.

    Sets ``YOLO_OFFLINE=1`` always and ``YOLO_CONFIG_DIR``, ``YOLO_AUTOINSTALL=false`` only if
    unset, creates the folder and copies a system font there as ``Arial.ttf`` if it is missing.

    Args:
        config_dir: Folder for Ultralytics settings (default: ``default_config_dir()``); ignored
            if ``YOLO_CONFIG_DIR`` is already set. Ultralytics uses its ``Ultralytics`` subfolder.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    if not os.environ.get("YOLO_CONFIG_DIR"):  # Ultralytics treats an empty value as unset too
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir or default_config_dir())
    settings_dir = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    settings_dir.mkdir(parents=True, exist_ok=True)
    place_font(settings_dir / FONT_NAME)
    live = sys.modules.get("ultralytics.utils")
    if live is not None:
        # Imported earlier: Ultralytics fixed its settings folder then, so serve the font there too.
        place_font(Path(live.USER_CONFIG_DIR) / FONT_NAME)
    keep_pillow_open()


def keep_pillow_open() -> None:
    """Import Ultralytics without its replacement of ``PIL.Image.open``.

    On import it swaps in a version that, for an image Pillow cannot identify, tries to install
    and import a HEIF plugin; in a worker that turns a corrupt upload into an ImportError instead
    of Pillow's own error (and quire's ``corrupt_image``). Quire hands Ultralytics decoded
    arrays only, so Pillow's original is restored.
    """
    from PIL import Image

    original = Image.open
    import ultralytics.utils.patches as patches

    Image.open = getattr(patches, "_image_open", original)


def place_font(target: Path) -> bool:
    """Copy the first system font found to ``target`` unless it exists.

    Args:
        target: Where Ultralytics expects its font.

    Returns:
        Whether ``target`` exists afterwards.
    """
    if target.exists():
        return True
    source = next((font for font in FONT_SOURCES if font.is_file()), None)
    if source is None:
        LOG.warning("no system font to place at %s; Ultralytics plotting is unavailable", target)
        return False
    # Copy to a temporary name first so a concurrent reader never sees a partial font.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(source, partial)
    partial.replace(target)
    return True
