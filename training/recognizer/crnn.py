"""A compact CRNN for text lines: a small CNN, a BiLSTM over the columns, CTC outputs.

Sized to train from scratch on a 2-core CPU in hours (about 1.3M parameters) and to read a line
in milliseconds. The worker loads it through ``load_crnn``; training writes it through
``save_crnn``: one ``.pt`` file holding the weights, the architecture and the codec.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from training.recognizer.codec import CtcCodec

FORMAT = "quire-crnn-1"


@dataclass(frozen=True)
class CrnnShape:
    """Architecture knobs; the defaults are the shipped model's."""

    height: int = 40
    channels: tuple[int, ...] = (24, 48, 96, 128)
    hidden: int = 160
    layers: int = 2
    dropout: float = 0.2
    max_width: int = 1600  # wider lines are squeezed (a 40 px line of ~100 characters)


def _block(c_in: int, c_out: int, pool: tuple[int, int]) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(pool, pool),
    ]


class Crnn(nn.Module):
    """Input N x 1 x H x W (ink bright, 0..1); output T x N x classes log-probabilities,
    T = W / 4."""

    def __init__(self, shape: CrnnShape, num_classes: int):
        super().__init__()
        self.shape = shape
        pools = [(2, 2), (2, 2), (2, 1), (2, 1)]
        layers: list[nn.Module] = []
        c_in = 1
        for c_out, pool in zip(shape.channels, pools, strict=True):
            layers += _block(c_in, c_out, pool)
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        rows = shape.height // 16
        self.project = nn.Linear(c_in * rows, shape.hidden)
        self.rnn = nn.LSTM(
            shape.hidden,
            shape.hidden,
            num_layers=shape.layers,
            bidirectional=True,
            dropout=shape.dropout if shape.layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(shape.dropout)
        self.head = nn.Linear(2 * shape.hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.cnn(images)  # N x C x H/16 x W/4
        n, c, h, w = features.shape
        columns = features.permute(3, 0, 1, 2).reshape(w, n, c * h)
        hidden, _ = self.rnn(torch.relu(self.project(columns)))
        return self.head(self.dropout(hidden)).log_softmax(-1)


def output_lengths(widths: torch.Tensor) -> torch.Tensor:
    """CTC frames per input width (the CNN halves the width twice)."""
    return torch.div(widths, 4, rounding_mode="floor").clamp(min=1)


def line_to_array(image: Image.Image | np.ndarray, shape: CrnnShape) -> np.ndarray:
    """A line crop as float32 H x W, ink bright on a dark ground, height ``shape.height``.

    Contrast is stretched between the crop's dark and light percentiles, so ink colour and
    paper tone do not matter.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    gray = pil.convert("L")
    w, h = gray.size
    width = max(8, min(shape.max_width, round(w * shape.height / max(h, 1))))
    resized = np.asarray(
        gray.resize((width, shape.height), Image.Resampling.BILINEAR), dtype=np.float32
    )
    low, high = np.percentile(resized, (2, 98))
    stretched = (high - resized) / max(high - low, 1.0)
    return np.clip(stretched, 0.0, 1.0)


def batch_arrays(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad line arrays to one width (multiple of 4): N x 1 x H x W and the true widths."""
    widths = [a.shape[1] for a in arrays]
    width = -(-max(widths) // 4) * 4
    batch = np.zeros((len(arrays), 1, arrays[0].shape[0], width), dtype=np.float32)
    for i, a in enumerate(arrays):
        batch[i, 0, :, : a.shape[1]] = a
    return torch.from_numpy(batch), torch.tensor(widths, dtype=torch.long)


def save_crnn(
    path: Path, model: Crnn, codec: CtcCodec, metadata: dict[str, Any] | None = None
) -> None:
    """One file: weights (float32), architecture, alphabet and free-form metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "shape": asdict(model.shape),
        "alphabet": codec.alphabet,
        "state_dict": state,
        "metadata": metadata or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_crnn(path: Path, device: str = "cpu") -> tuple[Crnn, CtcCodec, dict[str, Any]]:
    """Read a file written by ``save_crnn``; the model comes back in eval mode."""
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a quire CRNN model (format {payload.get('format')!r})")
    raw = dict(payload["shape"])
    raw["channels"] = tuple(raw["channels"])
    codec = CtcCodec(payload["alphabet"])
    model = Crnn(CrnnShape(**raw), codec.num_classes)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return model, codec, dict(payload.get("metadata", {}))
