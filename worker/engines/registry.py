"""Engines by name, as ``QUIRE_ENGINE`` chooses them."""

from __future__ import annotations

from collections.abc import Callable

from shared.settings import Settings
from worker.engines.base import OcrEngine

EngineFactory = Callable[[Settings], OcrEngine]


def _ppocr(settings: Settings) -> OcrEngine:
    from worker.engines.ppocr import build_ppocr_engine

    return build_ppocr_engine(
        settings.data_dir / "engine-cache",
        unclip_ratio=settings.ppocr_unclip_ratio,
        min_confidence=settings.ppocr_min_confidence,
    )


ENGINES: dict[str, EngineFactory] = {"ppocr": _ppocr}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine available under ``name`` (tests register their fakes here)."""
    ENGINES[name] = factory


def build_engine(settings: Settings) -> OcrEngine:
    """Load the engine the settings name; unknown names fail at start, not per page."""
    try:
        factory = ENGINES[settings.engine]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown QUIRE_ENGINE {settings.engine!r}; known: {known}") from None
    return factory(settings)
