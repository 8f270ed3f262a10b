"""Train the CRNN-CTC line recognizer from scratch on a CPU (or a GPU when given one).

Recipe: lines pre-scaled to the model height once, width-bucketed batches, on-the-fly
augmentation, Adam with a short warm-up and a halving on plateau, validation CER every
"epoch" (a fixed number of lines, so a large set still gets a curve), early stopping on it,
the best checkpoint kept, the last one for resume.
"""

from __future__ import annotations

import math
import random
import string
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from training.recognizer.augment import augment_line
from training.recognizer.codec import CtcCodec
from training.recognizer.crnn import (
    Crnn,
    CrnnShape,
    batch_arrays,
    line_to_array,
    output_lengths,
    save_crnn,
)
from training.recognizer.line_errors import ErrorTally
from training.recognizer_result import RecognizerTrainResult
from training.run_log import EarlyStopping, EpochRecord, MetricsLog, TimeBudget, epoch_summary
from training.samples import LineSample

BEST_FILE = "recognizer.pt"
PLATEAU_AFTER_CER = 0.95
# Always in the codec, so fine-tuning on English or digits never needs a new output row.
BASE_ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "
LAST_FILE = "last.pt"


@dataclass
class CrnnTrainConfig:
    """Options of one CRNN training run (defaults: the shipped model's recipe)."""

    out_dir: Path
    shape: CrnnShape = field(default_factory=CrnnShape)
    epochs: int = 30
    epoch_lines: int | None = None  # lines per epoch; None = the whole training set
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    patience: int = 6
    max_minutes: float | None = None
    augment: bool = True
    device: str = "cpu"
    threads: int | None = None
    seed: int = 0
    resume: bool = True
    base_model: Path | None = None  # a recognizer.pt to start from (fine-tuning)
    alphabet: str | None = None  # None: printable ASCII and every character of the texts
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Prepared:
    arrays: list[np.ndarray]  # uint8 H x W, ink bright
    texts: list[str]
    targets: list[list[int]] = field(default_factory=list)

    def encode(self, codec: CtcCodec) -> _Prepared:
        """Targets for ``codec``; lines with no character it can write are dropped."""
        kept = [(a, t, codec.encode(t)) for a, t in zip(self.arrays, self.texts, strict=True)]
        kept = [k for k in kept if k[2]]
        return _Prepared([k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept])


def prepare_lines(samples: Iterable[LineSample], shape: CrnnShape) -> _Prepared:
    """Scale every line to the model height once (streamed: crops are not kept)."""
    arrays, texts = [], []
    for sample in samples:
        if not sample.text:
            continue
        array = line_to_array(sample.image, shape)
        arrays.append((array * 255).astype(np.uint8))
        texts.append(sample.text)
    return _Prepared(arrays, texts)


def width_batches(
    widths: Sequence[int], batch_size: int, rng: random.Random, limit: int | None = None
) -> list[list[int]]:
    """Indices grouped into batches of similar width, in a shuffled order.

    Sorting by a jittered width keeps padding low while batches still vary between epochs.
    """
    order = list(range(len(widths)))
    rng.shuffle(order)
    if limit is not None:
        order = order[:limit]
    order.sort(key=lambda i: widths[i] * rng.uniform(0.9, 1.1))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def ctc_targets(targets: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated CTC targets and their lengths."""
    flat = torch.tensor([i for t in targets for i in t], dtype=torch.long)
    return flat, torch.tensor([len(t) for t in targets], dtype=torch.long)


class _Run:
    """The state of one training run: model, optimizer, schedule, stopper, logs."""

    def __init__(self, config: CrnnTrainConfig, codec: CtcCodec):
        self.config = config
        self.codec = codec
        self.device = torch.device(config.device)
        self.model = Crnn(config.shape, codec.num_classes).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=0.5, patience=2
        )
        self.stopper = EarlyStopping(config.patience, mode="min")
        self.log = MetricsLog(config.out_dir)
        self.epoch = 0
        self.step = 0
        self.rng = random.Random(config.seed)
        self.np_rng = np.random.default_rng(config.seed)
        self.ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)

    def save_last(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "plateau": self.plateau.state_dict(),
            "stopper": self.stopper.state(),
            "epoch": self.epoch,
            "step": self.step,
            "alphabet": self.codec.alphabet,
            "rng": self.rng.getstate(),
            "np_rng": self.np_rng.bit_generator.state,
        }
        path = self.config.out_dir / LAST_FILE
        torch.save(state, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)

    def load_last(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["alphabet"] != self.codec.alphabet:
            raise ValueError(f"{path}: checkpoint alphabet differs from this run's")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.plateau.load_state_dict(state["plateau"])
        self.stopper.load(state["stopper"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.rng.setstate(state["rng"])
        self.np_rng.bit_generator.state = state["np_rng"]
        self.log.truncate_after(self.epoch)

    def load_base(self, path: Path) -> None:
        """Start from another CRNN's weights; the output layer is kept where classes agree."""
        from training.recognizer.crnn import load_crnn

        base, base_codec, _ = load_crnn(path, str(self.device))
        own = self.model.state_dict()
        for name, tensor in base.state_dict().items():
            if not name.startswith("head.") and name in own and own[name].shape == tensor.shape:
                own[name] = tensor
        self.model.load_state_dict(own)
        _copy_head_rows(base, base_codec, self.model, self.codec)

    def learning_rate_step(self) -> None:
        if self.step < self.config.warmup_steps:
            scale = (self.step + 1) / self.config.warmup_steps
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate * scale


def _copy_head_rows(base: Crnn, base_codec: CtcCodec, model: Crnn, codec: CtcCodec) -> None:
    """Output rows of characters both alphabets share (and the blank) come from the base."""
    rows = {0: 0} | {
        i + 1: base_codec.alphabet.index(c) + 1
        for i, c in enumerate(codec.alphabet)
        if c in base_codec.alphabet
    }
    with torch.no_grad():
        for new, old in rows.items():
            model.head.weight[new] = base.head.weight[old]
            model.head.bias[new] = base.head.bias[old]


def train_crnn(
    config: CrnnTrainConfig,
    train: Iterable[LineSample],
    val: Iterable[LineSample],
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> RecognizerTrainResult:
    """Train, validate every epoch, keep the best; resume from ``out_dir/last.pt`` if there.

    Args:
        config: The run's options.
        train: Training lines (texts already normalised).
        val: Validation lines, from pages not in ``train``.
        on_epoch: Called with each epoch's record (progress for a caller).

    Returns:
        Where the best model is and every epoch's record.
    """
    torch.manual_seed(config.seed)
    if config.threads:
        torch.set_num_threads(config.threads)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    train_raw = prepare_lines(train, config.shape)
    val_raw = prepare_lines(val, config.shape)
    if not train_raw.arrays or not val_raw.arrays:
        raise ValueError("training needs at least one training and one validation line")
    alphabet = (
        config.alphabet or CtcCodec.from_texts(train_raw.texts, _base_alphabet(config)).alphabet
    )
    codec = CtcCodec(alphabet)
    run = _Run(config, codec)
    last = config.out_dir / LAST_FILE
    if config.resume and last.exists():
        run.load_last(last)
    elif config.base_model is not None:
        run.load_base(config.base_model)
    train_set, val_set = train_raw.encode(codec), val_raw.encode(codec)
    if not train_set.arrays or not val_set.arrays:
        raise ValueError("no line has a character of the alphabet")
    print(
        f"{len(train_set.arrays)} training lines, {len(val_set.arrays)} validation lines, "
        f"{len(alphabet)} characters",
        flush=True,
    )
    return _loop(run, train_set, val_set, on_epoch)


def _base_alphabet(config: CrnnTrainConfig) -> str:
    """What the codec always holds: printable ASCII, and a base model's own characters, so a
    fine-tuned model still writes everything its base could and learns the dataset's new ones
    (their output rows start fresh)."""
    if config.base_model is None:
        return BASE_ALPHABET
    from training.recognizer.crnn import load_crnn

    _, base_codec, _ = load_crnn(config.base_model, "cpu")
    return BASE_ALPHABET + base_codec.alphabet


def _loop(
    run: _Run,
    train_set: _Prepared,
    val_set: _Prepared,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> RecognizerTrainResult:
    config, budget = run.config, TimeBudget(run.config.max_minutes)
    stopped = "epochs"
    while run.epoch < config.epochs:
        if budget.spent:
            stopped = "time_budget"
            break
        record = _epoch(run, train_set, val_set, budget)
        run.log.append(record)
        run.save_last()
        print(epoch_summary(record, config.epochs), flush=True)
        if on_epoch is not None:
            on_epoch(record)
        if run.stopper.should_stop:
            stopped = "early_stopping"
            break
    records = run.log.read()
    never_read = not records or min(r.metrics["val_cer"] for r in records) >= 1.0
    if never_read or not (config.out_dir / BEST_FILE).exists():
        stopped = "did_not_converge"
    return RecognizerTrainResult(config.out_dir, records, stopped)


def _epoch(run: _Run, train_set: _Prepared, val_set: _Prepared, budget: TimeBudget) -> EpochRecord:
    config = run.config
    started = time.monotonic()
    widths = [a.shape[1] for a in train_set.arrays]
    batches = width_batches(widths, config.batch_size, run.rng, config.epoch_lines)
    run.model.train()
    losses, seen = [], 0
    bar = tqdm(
        batches,
        desc=f"epoch {run.epoch + 1}/{config.epochs}",
        unit="batch",
        leave=False,
        disable=None,
    )
    for batch in bar:
        loss = _train_step(run, train_set, batch)
        losses.append(loss)
        seen += len(batch)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        if budget.spent:
            break
    bar.close()
    run.epoch += 1
    tally = validate(run.model, run.codec, val_set.arrays, val_set.texts, run.device)
    cer = tally.cer
    if cer < PLATEAU_AFTER_CER:  # before CTC emits its first characters, keep the full rate
        run.plateau.step(cer)
    best = run.stopper.update(run.epoch, cer)
    seconds = time.monotonic() - started
    if best:
        meta = dict(config.metadata) | {"epoch": run.epoch, "val_cer": cer, "val_wer": tally.wer}
        meta["recipe"] = _recipe(config)
        save_crnn(config.out_dir / BEST_FILE, run.model, run.codec, meta)
    train_loss = float(np.mean(losses)) if losses else math.nan
    return EpochRecord(
        epoch=run.epoch,
        train_loss=train_loss,
        metrics={"val_cer": cer, "val_wer": tally.wer, "lr": run.optimizer.param_groups[0]["lr"]},
        seconds=seconds,
        best=best,
        samples_per_second=seen / max(seconds, 1e-9),
    )


def _train_step(run: _Run, data: _Prepared, batch: list[int]) -> float:
    arrays = [data.arrays[i] for i in batch]
    if run.config.augment:
        arrays = [augment_line(a, run.np_rng) for a in arrays]
    images, widths = batch_arrays([a.astype(np.float32) / 255.0 for a in arrays])
    targets, target_lengths = ctc_targets([data.targets[i] for i in batch])
    run.learning_rate_step()
    log_probs = run.model(images.to(run.device))
    frames = output_lengths(widths).clamp(max=log_probs.shape[0])
    loss = run.ctc(log_probs.float().cpu(), targets, frames, target_lengths)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 5.0)
    run.optimizer.step()
    run.step += 1
    return float(loss.item())


@torch.no_grad()
def validate(
    model: Crnn,
    codec: CtcCodec,
    arrays: Sequence[np.ndarray],
    texts: Sequence[str],
    device: torch.device | str = "cpu",
    batch_size: int = 32,
) -> ErrorTally:
    """Greedy-decode every line; pooled character and word errors against ``texts``."""
    model.eval()
    tally = ErrorTally()
    order = sorted(range(len(arrays)), key=lambda i: arrays[i].shape[1])
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        images, widths = batch_arrays([arrays[i].astype(np.float32) / 255.0 for i in chunk])
        log_probs = model(images.to(device)).cpu()
        for column, i in enumerate(chunk):
            frames = int(output_lengths(widths[column : column + 1])[0])
            ids = log_probs[:frames, column].argmax(-1).tolist()
            tally.add(codec.decode_greedy(ids), texts[i])
    model.train()
    return tally


def _recipe(config: CrnnTrainConfig) -> dict[str, Any]:
    keep = (
        "epochs",
        "epoch_lines",
        "batch_size",
        "learning_rate",
        "warmup_steps",
        "patience",
        "augment",
        "seed",
    )
    recipe = {k: v for k, v in asdict(config).items() if k in keep}
    recipe["shape"] = asdict(config.shape)
    return recipe
