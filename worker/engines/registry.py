"""Engines by name, as ``QUIRE_ENGINE`` chooses them.

- ``ppocr``: PP-OCRv5 detector + recognizer, offline on a CPU (the embedded default).
- ``yolo-trocr``: YOLOv8 line detector + TrOCR recognizer, the production (GPU) engine.
- ``ppocr-trocr``: PP-OCR's detector + TrOCR, for sites without a trained line detector.
- ``quire``: quire's own YOLOv8n line detector + its CRNN handwriting recognizer (both shipped
  in ``models/``; ``QUIRE_DETECTOR_MODEL`` / ``QUIRE_RECOGNIZER_MODEL`` override them).
- ``ppocr-crnn``: PP-OCR's detector + quire's CRNN recognizer.
- ``mixed``: PP-OCR's detector; each line read by PP-OCR's recognizer, and again by quire's
  CRNN when PP-OCR's confidence is below ``QUIRE_PRINTED_MIN_CONFIDENCE`` (print and hands on
  one page).

``yolo-trocr`` uses quire's shipped detector unless ``QUIRE_DETECTOR_MODEL`` names another, so
a GPU site with hub access only names a TrOCR checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.settings import Settings
from worker.engines import builtin_models
from worker.engines.base import Detector, OcrEngine, Recognizer
from worker.engines.model_source import (
    ResolvedModel,
    content_digest,
    identity_of,
    resolve_model,
)

if TYPE_CHECKING:
    from training.recognizer.char_lm import CharNgramLm
    from worker.engines.ppocr import Detection, Runtime

EngineFactory = Callable[[Settings], OcrEngine]


def builtin_model(settings: Settings, name: str) -> ResolvedModel:
    """A model quire ships, by name (``QUIRE_BUILTIN_MODELS_DIR`` or the checkout's)."""
    return _model(settings, name, "a shipped model's name")


def _model(settings: Settings, source: str | None, variable: str) -> ResolvedModel:
    if not source:
        raise ValueError(f"QUIRE_ENGINE={settings.engine} needs {variable}")
    from shared.storage.s3 import s3_client

    return resolve_model(
        source,
        settings.effective_model_cache_dir,
        lambda: s3_client(settings),
        builtin_dir=settings.builtin_models_dir,
    )


def _ppocr_detector(settings: Settings) -> Detector:
    from worker.engines.ppocr import load_ppocr_detector

    return load_ppocr_detector(
        settings.data_dir / "engine-cache", ppocr_detection(settings), ppocr_runtime(settings)
    )


def ppocr_runtime(settings: Settings) -> Runtime:
    """How ONNX Runtime runs the PP-OCR models, from settings."""
    from worker.engines.ppocr import Runtime

    return Runtime(threads=settings.ppocr_threads)


def ppocr_engine(settings: Settings, min_confidence: float) -> OcrEngine:
    """PP-OCR's detector and recognizer as the settings configure them."""
    from worker.engines.ppocr import build_ppocr_engine
    from worker.engines.word_repair import default_word_list

    return build_ppocr_engine(
        settings.data_dir / "engine-cache",
        ppocr_detection(settings),
        min_confidence=min_confidence,
        runtime=ppocr_runtime(settings),
        words=default_word_list() if settings.ppocr_word_list else None,
        recognizer_model=settings.ppocr_recognizer,
    )


def ppocr_detection(settings: Settings) -> Detection:
    """The PP-OCR detector's post-processing, from settings."""
    from worker.engines.ppocr import Detection

    return Detection(
        settings.ppocr_unclip_ratio, settings.ppocr_box_threshold, settings.ppocr_dilation
    )


def _detector_source(settings: Settings) -> str:
    return settings.detector_model or builtin_models.DETECTOR


def _crnn_source(settings: Settings) -> str:
    return settings.recognizer_model or builtin_models.RECOGNIZER


def _yolo_detector(settings: Settings) -> Detector:
    return yolo_detector_from(
        settings, _model(settings, _detector_source(settings), "QUIRE_DETECTOR_MODEL")
    )


def yolo_detector_from(settings: Settings, model: ResolvedModel) -> Detector:
    """quire's YOLOv8 line detector from these weights, with the settings' options."""
    from worker.engines.yolo import YoloDetector

    return YoloDetector(
        model.path,
        conf=settings.detector_confidence,
        iou=settings.detector_iou,
        imgsz=settings.detector_image_size,
        batch_size=settings.detector_batch_size,
        device=settings.device,
        config_dir=settings.data_dir / "ultralytics",
        name=model.identity,
    )


def _trocr_recognizer(settings: Settings) -> Recognizer:
    from worker.engines.trocr import TrOcrRecognizer

    model = _model(settings, settings.recognizer_model, "QUIRE_RECOGNIZER_MODEL")
    return TrOcrRecognizer(
        model.path,
        device=settings.device,
        decoding=settings.recognizer_decoding,
        num_beams=settings.recognizer_num_beams,
        max_new_tokens=settings.recognizer_max_new_tokens,
        min_new_tokens=settings.recognizer_min_new_tokens,
        batch_size=settings.recognizer_batch_size,
        name=model.identity,
    )


def _crnn_recognizer(settings: Settings) -> Recognizer:
    return crnn_recognizer_from(
        settings, _model(settings, _crnn_source(settings), "QUIRE_RECOGNIZER_MODEL")
    )


def crnn_recognizer_from(settings: Settings, model: ResolvedModel) -> Recognizer:
    """quire's CRNN-CTC recognizer from these weights (with the LM beside them, if any)."""
    from training.recognizer.ctc_beam import BeamOptions
    from worker.engines.crnn import CrnnRecognizer

    lm, name = _crnn_language_model(settings, model)
    return CrnnRecognizer(
        model.path,
        device=settings.device,
        batch_size=settings.recognizer_batch_size,
        name=name,
        lm=lm,
        beam=BeamOptions(
            beam_width=settings.crnn_beam_width,
            lm_weight=settings.crnn_lm_weight,
            length_bonus=settings.crnn_lm_length_bonus,
        ),
    )


def _crnn_language_model(
    settings: Settings, model: ResolvedModel
) -> tuple[CharNgramLm | None, str]:
    """The LM beside the recognizer's weights (``charlm.json.gz``), unless its weight is 0."""
    from training.recognizer.char_lm import LM_FILE, CharNgramLm

    path = model.path.parent / LM_FILE
    if settings.crnn_lm_weight <= 0 or not model.path.is_file() or not path.is_file():
        return None, model.identity
    lm_name = identity_of(LM_FILE.split(".")[0], content_digest(path))
    return CharNgramLm.load(path), f"{model.identity}+{lm_name}"


def _mixed(settings: Settings) -> OcrEngine:
    from worker.engines.confidence_choice import ConfidenceChoice

    ppocr = ppocr_engine(settings, min_confidence=0.5)
    choice = ConfidenceChoice(
        ppocr.recognizer, _crnn_recognizer(settings), settings.printed_min_confidence
    )
    return OcrEngine(ppocr.detector, choice, min_confidence=settings.mixed_min_confidence)


def _ppocr(settings: Settings) -> OcrEngine:
    return ppocr_engine(settings, min_confidence=settings.ppocr_min_confidence)


ENGINES: dict[str, EngineFactory] = {
    "ppocr": _ppocr,
    "yolo-trocr": lambda s: OcrEngine(_yolo_detector(s), _trocr_recognizer(s)),
    "ppocr-trocr": lambda s: OcrEngine(_ppocr_detector(s), _trocr_recognizer(s)),
    "quire": lambda s: OcrEngine(_yolo_detector(s), _crnn_recognizer(s)),
    "ppocr-crnn": lambda s: OcrEngine(_ppocr_detector(s), _crnn_recognizer(s)),
    "mixed": _mixed,
}


def register_engine(name: str, factory: EngineFactory) -> None:
    """Make an engine available under ``name`` (tests register their fakes here)."""
    ENGINES[name] = factory


# Which model sources each engine needs: (setting, how it is found when the setting is unset).
REQUIRED_MODELS: dict[str, tuple[tuple[str, Callable[[Settings], str | None]], ...]] = {
    "yolo-trocr": (
        ("detector_model", _detector_source),
        ("recognizer_model", lambda s: s.recognizer_model),
    ),
    "ppocr-trocr": (("recognizer_model", lambda s: s.recognizer_model),),
    "quire": (("detector_model", _detector_source), ("recognizer_model", _crnn_source)),
    "ppocr-crnn": (("recognizer_model", _crnn_source),),
    "mixed": (("recognizer_model", _crnn_source),),
}


def check_engine(settings: Settings) -> None:
    """Fail fast, before any fork: the engine name is known and its models can be had
    (S3 models are fetched into the cache here, once for all child processes)."""
    if settings.engine not in ENGINES:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown QUIRE_ENGINE {settings.engine!r}; known: {known}")
    for field, source in REQUIRED_MODELS.get(settings.engine, ()):
        _model(settings, source(settings), f"QUIRE_{field.upper()}")


def build_engine(settings: Settings) -> OcrEngine:
    """Load the engine the settings name; unknown names fail at start, not per page."""
    try:
        factory = ENGINES[settings.engine]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown QUIRE_ENGINE {settings.engine!r}; known: {known}") from None
    return factory(settings)
