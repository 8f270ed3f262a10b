"""Line samples: what a recognizer trains and validates on."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True)
class LineSample:
    """One line crop with its normalised text and the page it came from (splits are by page)."""

    image: Image.Image
    text: str
    page_id: str
