"""TrOCR line recognizer (a ViT encoder and a text decoder, run with Hugging Face transformers).

Crops are grouped by width so that lines of similar length share a batch, read with greedy or
beam-search decoding, and returned in the order they came in. A crop's confidence is the
geometric mean of the probabilities of its generated tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrOCRProcessor, VisionEncoderDecoderModel

from worker.engines.base import Image, Recognition
from worker.engines.batching import bucket_by_width, restore_order

DECODINGS = ("greedy", "beam")
UNREADABLE = Recognition("", 0.0)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; any other name is used as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TrOcrRecognizer:
    """Reads line crops with a TrOCR model saved by ``save_pretrained``.

    Crops that are empty (no pixels) or not images (neither H x W nor H x W x C) are answered
    with an empty text of confidence 0.0 and never reach the model; grayscale and RGBA crops are
    converted to RGB. Any other failure, such as running out of GPU memory, raises and fails the
    whole call.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        decoding: str = "greedy",
        num_beams: int = 4,
        max_new_tokens: int = 64,
        min_new_tokens: int = 0,
        batch_size: int = 32,
        name: str | None = None,
    ) -> None:
        """Load the model and its processor once.

        Args:
            model_dir: A folder holding the model and its ``TrOCRProcessor``.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. CUDA runs in float16,
                the CPU in float32.
            decoding: ``"greedy"`` or ``"beam"``.
            num_beams: Beams for beam-search decoding (ignored by greedy decoding).
            max_new_tokens: The most tokens generated per crop.
            min_new_tokens: The fewest tokens generated per crop before the end token.
            batch_size: The most crops per model call.
            name: The recognizer's name in results; defaults to ``trocr:<folder name>``.

        Raises:
            ValueError: If ``decoding`` is unknown or a count is out of range.
        """
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
        if batch_size < 1 or num_beams < 1 or max_new_tokens < 1:
            raise ValueError("batch_size, num_beams and max_new_tokens must be at least 1")
        if not 0 <= min_new_tokens <= max_new_tokens:
            raise ValueError(f"min_new_tokens must be in [0, {max_new_tokens}]")
        self.name = name or f"trocr:{model_dir.name}"
        self.device = resolve_device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.decoding = decoding
        self.num_beams = num_beams if decoding == "beam" else 1
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = min_new_tokens
        self.batch_size = batch_size
        self._processor = TrOCRProcessor.from_pretrained(model_dir)
        model = VisionEncoderDecoderModel.from_pretrained(model_dir)
        # transformers wraps ``to`` with functools.wraps, which hides its signature from mypy.
        self._model = model.to(device=self.device, dtype=self.dtype).eval()  # type: ignore[call-arg]

    def parameter_count(self) -> int:
        """The number of model parameters (shared ones counted once)."""
        return sum(p.numel() for p in self._model.parameters())

    def recognize(self, crops: Sequence[Image]) -> list[Recognition]:
        """Read every crop.

        Args:
            crops: Line crops, H x W x 3 uint8 RGB.

        Returns:
            One recognition per crop, in the order of ``crops``.
        """
        prepared = [_as_rgb(crop) for crop in crops]
        owners = [i for i, crop in enumerate(prepared) if crop is not None]
        images = [crop for crop in prepared if crop is not None]
        plan = bucket_by_width([image.shape[1] for image in images], self.batch_size)
        results = [self._read([images[j] for j in batch]) for batch in plan]
        batches = [[owners[j] for j in batch] for batch in plan]
        unreadable = [i for i, crop in enumerate(prepared) if crop is None]
        return restore_order(
            [*batches, unreadable], [*results, [UNREADABLE] * len(unreadable)], len(crops)
        )

    def _read(self, crops: list[Image]) -> list[Recognition]:
        """Run one batch through the model."""
        pixels = self._processor(
            images=crops, return_tensors="pt", input_data_format="channels_last"
        ).pixel_values
        with torch.inference_mode():
            out = self._model.generate(
                pixels.to(device=self.device, dtype=self.dtype),
                output_scores=True,
                return_dict_in_generate=True,
                max_new_tokens=self.max_new_tokens,
                min_new_tokens=self.min_new_tokens,
                num_beams=self.num_beams,
                do_sample=False,
            )
            confidences = self._confidences(out)
        texts = self._processor.batch_decode(out.sequences, skip_special_tokens=True)
        return [Recognition(str(t), c) for t, c in zip(texts, confidences, strict=True)]

    def _confidences(self, out: Any) -> list[float]:
        """exp(mean log-probability) of each sequence's generated tokens, its end token included."""
        scores = tuple(step.float() for step in out.scores)
        beam_indices = out.beam_indices if self.num_beams > 1 else None
        logprobs = self._model.compute_transition_scores(
            out.sequences, scores, beam_indices, normalize_logits=True
        )
        generated = out.sequences[:, -logprobs.shape[1] :]
        mask = _until_first(generated, self._model.generation_config.eos_token_id)
        logprobs = torch.where(mask, logprobs, torch.zeros_like(logprobs))
        counts = mask.sum(dim=1)
        means = logprobs.sum(dim=1) / counts.clamp(min=1)
        confidence = torch.where(counts > 0, means.exp(), torch.zeros_like(means))
        return [min(max(float(c), 0.0), 1.0) for c in confidence.cpu()]


def _until_first(tokens: torch.Tensor, eos: int | list[int] | None) -> torch.Tensor:
    """A mask of each row's tokens up to and including its first end token (the rest is padding)."""
    if eos is None:
        return torch.ones_like(tokens, dtype=torch.bool)
    ends = torch.isin(tokens, torch.tensor(eos, device=tokens.device).reshape(-1))
    ends_before = torch.cumsum(ends.int(), dim=1) - ends.int()
    return ends_before == 0


def _as_rgb(crop: Image) -> Image | None:
    """The crop as H x W x 3 uint8, or None when it has no pixels or is not an image."""
    array = np.asarray(crop)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or array.size == 0:
        return None
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3], dtype=np.uint8)
