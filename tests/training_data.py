"""Ground truth for the training tests: synthetic handwriting-style pages as PAGE XML with
their images (``quire synth pages``, the system's faces, no fetched fonts), zipped."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from cli.main import main


def synth_pages(out: Path, n: int = 4, seed: int = 3) -> Path:
    """``n`` pages under ``out/synth``: one PNG and one PAGE XML each."""
    pages = out / "synth"
    empty = out / "no-cache"
    empty.mkdir(parents=True, exist_ok=True)
    words = ["synth", "pages", "--out", str(pages), "-n", str(n), "--seed", str(seed)]
    code = main([*words, "--workers", "1", "--fonts", str(empty), "--texts", str(empty), "--quiet"])
    assert code == 0
    return pages


def zipped(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """Every file of ``folder`` (relative names) and ``extra`` members, as a zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()
