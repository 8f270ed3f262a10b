"""quire's own CRNN-CTC line recognizer (trained by ``quire train recognizer``).

Crops are scaled to the model's line height, batched by width, read with greedy CTC decoding
(or, given a character language model, a prefix beam search fused with it) and returned in
input order. A crop's confidence is the mean, over the characters the greedy path emits, of
the probability of each character's best frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from shared.textnorm import normalize_text
from training.recognizer.char_lm import CharNgramLm
from training.recognizer.codec import BLANK, CtcCodec
from training.recognizer.crnn import batch_arrays, line_to_array, load_crnn, output_lengths
from training.recognizer.ctc_beam import BeamOptions, prefix_beam_search
from worker.engines.base import Image, Recognition
from worker.engines.batching import bucket_by_width, restore_order

UNREADABLE = Recognition("", 0.0)


class CrnnRecognizer:
    """Reads line crops with a model file written by ``training.recognizer.crnn.save_crnn``."""

    def __init__(
        self,
        model_path: Path,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        name: str | None = None,
        lm: CharNgramLm | None = None,
        beam: BeamOptions | None = None,
    ) -> None:
        """Load the model once.

        Args:
            model_path: The ``recognizer.pt`` file.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
            batch_size: The most crops per model call.
            name: The recognizer's name in results; defaults to ``crnn:<file stem>``.
            lm: A character language model to fuse in a beam search; None: greedy decoding.
            beam: Beam width and fusion weights (defaults of ``BeamOptions``).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model, self.codec, self.metadata = load_crnn(model_path, str(self.device))
        self.batch_size = batch_size
        self.name = name or f"crnn:{model_path.stem}"
        self.lm = lm
        self.beam = beam or BeamOptions()

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        """One recognition per crop, in the order of ``crops``."""
        readable = [i for i, crop in enumerate(crops) if _is_image(crop)]
        arrays = [line_to_array(crops[i], self.model.shape) for i in readable]
        batches = bucket_by_width([a.shape[1] for a in arrays], self.batch_size)
        results = [self._read([arrays[i] for i in batch]) for batch in batches]
        ordered = restore_order(batches, results, len(arrays))
        out = [UNREADABLE] * len(crops)
        for index, recognition in zip(readable, ordered, strict=True):
            out[index] = recognition
        return out

    def _read(self, arrays: list[np.ndarray]) -> list[Recognition]:
        return [self._decode(log_probs) for log_probs in self.frame_log_probs(arrays)]

    @torch.inference_mode()
    def frame_log_probs(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """Each line's T x classes log probabilities (arrays from ``line_to_array``)."""
        images, widths = batch_arrays(arrays)
        log_probs = self.model(images.to(self.device)).cpu()
        frames = output_lengths(widths).clamp(max=log_probs.shape[0])
        return [log_probs[: int(frames[i]), i] for i in range(len(arrays))]

    def _decode(self, log_probs: torch.Tensor) -> Recognition:
        greedy = decode_with_confidence(log_probs.exp(), self.codec)
        if self.lm is None or not greedy.text:
            return greedy
        text = prefix_beam_search(log_probs.numpy(), self.codec.alphabet, self.lm, self.beam)
        return Recognition(normalize_text(text), greedy.confidence)


def decode_with_confidence(probs: torch.Tensor, codec: CtcCodec) -> Recognition:
    """Greedy CTC decoding of T x classes probabilities, with a per-character confidence."""
    best, ids = probs.max(-1)
    chars, scores, previous = [], [], BLANK
    for frame, i in enumerate(ids.tolist()):
        if i != BLANK and i != previous:
            chars.append(codec.alphabet[i - 1])
            scores.append(float(best[frame]))
        elif i != BLANK and scores:
            scores[-1] = max(scores[-1], float(best[frame]))
        previous = i
    text = normalize_text("".join(chars))
    return Recognition(text, float(np.mean(scores)) if scores and text else 0.0)


def _is_image(crop: object) -> bool:
    return isinstance(crop, np.ndarray) and crop.ndim in (2, 3) and crop.size > 0
