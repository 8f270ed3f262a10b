"""Fine-tune a TrOCR line recognizer (ViT encoder + text decoder) with a plain torch loop.

Recipe (Hugging Face's TrOCR fine-tuning, kraken's bookkeeping): AdamW at a constant 5e-5,
labels tokenized from ``normalize_text(text)``, padded with -100 so that padding costs no loss;
the model shifts them right behind ``decoder_start_token_id`` itself. Every epoch: greedy
decoding of the validation lines, pooled CER and WER, early stopping on CER, the best epoch
saved with ``save_pretrained`` and the last one kept for resume.

``out_dir`` after a run::

    best/           model + processor (``from_pretrained``-loadable) and model.json
    last/checkpoint.pt  weights, optimizer, scaler, epoch, early stopping, RNG: for resume
    metrics.jsonl   one record per epoch, kept across resumed runs
"""

from __future__ import annotations

import collections
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, TrOCRProcessor, VisionEncoderDecoderModel

from shared.textnorm import normalize_text
from training.recognizer.line_errors import ErrorTally
from training.recognizer_result import RecognizerTrainResult
from training.run_log import EarlyStopping, EpochRecord, MetricsLog, TimeBudget, epoch_summary
from training.samples import LineSample

BEST_DIR = "best"
LAST_DIR = "last"
CHECKPOINT_FILE = "checkpoint.pt"
CARD_FILE = "model.json"
IGNORED_LABEL = -100  # torch's CrossEntropyLoss ignore_index: padding costs no loss


@dataclass
class TrocrTrainConfig:
    """Options of one TrOCR fine-tuning run.

    Attributes:
        base_model: A local folder with a VisionEncoderDecoderModel and its TrOCRProcessor
            (the caller resolves store keys and hub ids to a folder first).
        out_dir: The run folder (see the module docstring).
        epochs: The last epoch number; a resumed run continues up to it.
        learning_rate: AdamW's constant learning rate.
        weight_decay: AdamW's decoupled weight decay.
        batch_size: Lines per training batch (validation decodes twice as many at once).
        max_target_length: Most label tokens, specials included; longer labels are cut and
            validation generates at most this many tokens.
        patience: Epochs without a lower validation CER before stopping; 0 disables it.
        max_minutes: Wall-clock budget of this call, checked between steps; None is unlimited.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a GPU index such as ``"0"``.
        threads: torch's CPU threads for this process (None leaves them); on a busy machine
            fewer threads than cores avoid OpenMP stalls that slow small models many-fold.
        seed: Seed of shuffling and dropout.
        num_beams: Beams of validation decoding; 1 is greedy.
        fp16: fp16 autocast with loss scaling on a GPU (ignored on the CPU).
        max_grad_norm: Gradient clipping norm; 0 disables clipping.
        resume: Continue from ``out_dir/last`` when it exists.
        progress: Show a tqdm bar per epoch.
    """

    base_model: Path
    out_dir: Path
    epochs: int = 10
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    batch_size: int = 8
    max_target_length: int = 128
    patience: int = 5
    max_minutes: float | None = None
    device: str = "cpu"
    threads: int | None = None
    seed: int = 0
    num_beams: int = 1
    fp16: bool = True
    max_grad_norm: float = 1.0
    resume: bool = True
    progress: bool = True


def decoder_start_token_id(
    model: VisionEncoderDecoderModel, tokenizer: PreTrainedTokenizerBase
) -> int:
    """The model's decoder start token, or the tokenizer's CLS/BOS where the model has none."""
    start = model.config.decoder_start_token_id
    if start is None:
        start = (
            tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        )
    if start is None:
        raise ValueError("neither the model nor the tokenizer names a decoder start token")
    return int(start)


def configure_special_tokens(
    model: VisionEncoderDecoderModel, tokenizer: PreTrainedTokenizerBase, config: TrocrTrainConfig
) -> int:
    """Set start, pad, end tokens and vocabulary size on the model and its generation config.

    Returns:
        The decoder start token id.

    Raises:
        ValueError: If the tokenizer has no pad or end token, or more ids than the decoder.
    """
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer needs a pad and an end-of-sequence token")
    vocab = int(model.decoder.config.vocab_size)
    if len(tokenizer) > vocab:
        raise ValueError(f"tokenizer has {len(tokenizer)} ids, the decoder only {vocab}")
    start = decoder_start_token_id(model, tokenizer)
    for target in (model.config, model.generation_config):
        target.decoder_start_token_id = start
        target.pad_token_id = tokenizer.pad_token_id
        target.eos_token_id = tokenizer.eos_token_id
    model.config.vocab_size = vocab
    model.generation_config.max_new_tokens = config.max_target_length
    model.generation_config.num_beams = config.num_beams
    model.generation_config.do_sample = False
    return start


def encode_labels(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, start_token_id: int
) -> torch.Tensor:
    """Token ids of normalised texts, each ending with the end token, padded with -100.

    A leading token equal to the decoder start token is dropped: the model puts the start
    token in front of the shifted labels itself, so it is no target.

    Args:
        tokenizer: The recognizer's tokenizer (it adds its own special tokens).
        texts: Transcriptions; ``normalize_text`` is applied here.
        max_length: Most tokens per text before the start token is dropped.
        start_token_id: The decoder start token id.

    Returns:
        A ``(len(texts), length)`` long tensor.
    """
    encoded = tokenizer(
        [normalize_text(text) for text in texts],
        padding="longest",
        max_length=max_length,
        truncation=True,
        return_tensors="pt",
    )
    labels = encoded.input_ids.masked_fill(encoded.attention_mask == 0, IGNORED_LABEL)
    if labels.shape[1] > 1 and bool((labels[:, 0] == start_token_id).all()):
        labels = labels[:, 1:]
    return labels


def collate_lines(
    processor: TrOCRProcessor,
    samples: Sequence[LineSample],
    max_length: int,
    start_token_id: int,
) -> dict[str, torch.Tensor]:
    """One training batch: ``pixel_values`` from the image processor and ``labels``."""
    images = [sample.image.convert("RGB") for sample in samples]
    pixels = processor.image_processor(images=images, return_tensors="pt").pixel_values
    labels = encode_labels(
        processor.tokenizer, [s.text for s in samples], max_length, start_token_id
    )
    return {"pixel_values": pixels, "labels": labels}


def unencodable_characters(
    tokenizer: PreTrainedTokenizerBase, texts: Iterable[str]
) -> dict[str, int]:
    """Characters the tokenizer maps to its unknown token, with their counts in ``texts``."""
    counts = collections.Counter("".join(normalize_text(text) for text in texts))
    unk = tokenizer.unk_token_id
    if unk is None:
        return {}
    return {
        char: count
        for char, count in sorted(counts.items())
        if unk in tokenizer(char, add_special_tokens=False).input_ids
    }


@torch.no_grad()
def recognize_lines(
    model: VisionEncoderDecoderModel,
    processor: TrOCRProcessor,
    images: Sequence[Image.Image],
    batch_size: int = 16,
    autocast: bool = False,
) -> list[str]:
    """Decode line images with the model's generation config; texts normalised."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    texts: list[str] = []
    for start in range(0, len(images), batch_size):
        chunk = [image.convert("RGB") for image in images[start : start + batch_size]]
        pixels = processor.image_processor(images=chunk, return_tensors="pt").pixel_values
        with torch.autocast(device.type, dtype=torch.float16, enabled=autocast):
            ids = model.generate(pixels.to(device))
        decoded = processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
        texts.extend(normalize_text(text) for text in decoded)
    model.train(was_training)
    return texts


def validate(
    model: VisionEncoderDecoderModel,
    processor: TrOCRProcessor,
    samples: Sequence[LineSample],
    batch_size: int = 16,
    autocast: bool = False,
) -> ErrorTally:
    """Pooled character and word errors of the decoded lines against their texts."""
    tally = ErrorTally()
    found = recognize_lines(model, processor, [s.image for s in samples], batch_size, autocast)
    for hypothesis, sample in zip(found, samples, strict=True):
        tally.add(hypothesis, normalize_text(sample.text))
    return tally


def train_trocr(
    config: TrocrTrainConfig,
    train: Sequence[LineSample],
    val: Sequence[LineSample],
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> RecognizerTrainResult:
    """Fine-tune, validate every epoch, keep the best; resume from ``out_dir/last`` if there.

    Args:
        config: The run's options.
        train: Training lines.
        val: Validation lines, from pages not in ``train``.
        on_epoch: Called with each epoch's record (progress for a caller).

    Returns:
        Where the best model is, every epoch's record, why the run stopped and the characters
        the tokenizer cannot write.

    Raises:
        ValueError: If ``train`` or ``val`` is empty, or the model and tokenizer disagree.
        FileExistsError: If ``out_dir`` holds a previous run and ``config.resume`` is False.
    """
    if not train or not val:
        raise ValueError("training needs at least one training and one validation line")
    run = _Run(config)
    last = config.out_dir / LAST_DIR / CHECKPOINT_FILE
    if last.exists():
        if not config.resume:
            raise FileExistsError(
                f"{config.out_dir} holds a previous run; resume it or use a new folder"
            )
        run.load_last(last)
    else:
        run.log.path.unlink(missing_ok=True)  # a run that died before its first checkpoint
    unknown = unencodable_characters(run.processor.tokenizer, [s.text for s in [*train, *val]])
    if unknown:
        print(f"characters the tokenizer cannot write (as unk): {unknown}", flush=True)
    stopped = _loop(run, train, val, on_epoch, unknown)
    records = run.log.read()
    converged = any(r.metrics["val_cer"] < 1.0 for r in records)
    has_best = (config.out_dir / BEST_DIR / CARD_FILE).exists()
    if stopped != "time_budget" and not (converged and has_best):
        stopped = "did_not_converge"
    if has_best:
        _write_card(run, records, stopped, unknown)
    return RecognizerTrainResult(config.out_dir / BEST_DIR, records, stopped, unknown)


class _Run:
    """The state of one run: model, processor, optimizer, scaler, stopper, RNG, log."""

    def __init__(self, config: TrocrTrainConfig):
        self.config = config
        self.device = torch.device(
            f"cuda:{config.device}" if config.device.isdigit() else config.device
        )
        self.autocast = config.fp16 and self.device.type == "cuda"
        if config.threads:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.processor = TrOCRProcessor.from_pretrained(config.base_model)
        self.model = VisionEncoderDecoderModel.from_pretrained(config.base_model)
        self.model.to(device=self.device)  # type: ignore[call-arg]
        self.start_token = configure_special_tokens(self.model, self.processor.tokenizer, config)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast)
        self.stopper = EarlyStopping(config.patience, mode="min")
        self.log = MetricsLog(config.out_dir)
        self.shuffle = torch.Generator().manual_seed(config.seed)
        self.epoch = 0
        self.step = 0

    def save_last(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "stopper": self.stopper.state(),
            "epoch": self.epoch,
            "step": self.step,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "shuffle": self.shuffle.get_state(),
            },
        }
        path = self.config.out_dir / LAST_DIR / CHECKPOINT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        torch.save(state, partial)
        partial.replace(path)

    def load_last(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.stopper.load(state["stopper"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
        self.shuffle.set_state(rng["shuffle"].cpu())
        self.log.truncate_after(self.epoch)


def _loop(
    run: _Run,
    train: Sequence[LineSample],
    val: Sequence[LineSample],
    on_epoch: Callable[[EpochRecord], None] | None,
    unknown: dict[str, int],
) -> str:
    config, budget = run.config, TimeBudget(run.config.max_minutes)
    while run.epoch < config.epochs:
        if budget.spent:
            return "time_budget"
        record = _epoch(run, train, val, budget, unknown)
        run.log.append(record)
        run.save_last()
        print(epoch_summary(record, config.epochs), flush=True)
        if on_epoch is not None:
            on_epoch(record)
        if not math.isfinite(record.train_loss):
            return "did_not_converge"
        if run.stopper.should_stop:
            return "early_stopping"
    return "epochs"


def _epoch(
    run: _Run,
    train: Sequence[LineSample],
    val: Sequence[LineSample],
    budget: TimeBudget,
    unknown: dict[str, int],
) -> EpochRecord:
    """One pass over ``train`` (cut short by the budget or a non-finite loss), then validation."""
    config = run.config
    started = time.monotonic()
    order = torch.randperm(len(train), generator=run.shuffle).tolist()
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    losses: list[float] = []
    seen = 0
    bar = tqdm(
        batches,
        desc=f"epoch {run.epoch + 1}/{config.epochs}",
        unit="batch",
        leave=False,
        disable=not config.progress,
    )
    run.model.train()
    for batch in bar:
        losses.append(_train_step(run, [train[i] for i in batch]))
        seen += len(batch)
        bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
        if budget.spent or not math.isfinite(losses[-1]):
            break
    train_seconds = time.monotonic() - started
    run.epoch += 1
    tally = validate(run.model, run.processor, val, 2 * config.batch_size, run.autocast)
    bar.set_postfix(loss=f"{sum(losses) / len(losses):.3f}", val_cer=f"{tally.cer:.3f}")
    bar.close()
    best = math.isfinite(losses[-1]) and run.stopper.update(run.epoch, tally.cer)
    metrics = {"val_cer": tally.cer, "val_wer": tally.wer}
    if best:
        _save_best(run, metrics, unknown)
    return EpochRecord(
        epoch=run.epoch,
        train_loss=sum(losses) / len(losses),
        metrics=metrics,
        seconds=time.monotonic() - started,
        best=best,
        samples_per_second=seen / max(train_seconds, 1e-9),  # training only
    )


def _train_step(run: _Run, samples: Sequence[LineSample]) -> float:
    config = run.config
    batch = collate_lines(run.processor, samples, config.max_target_length, run.start_token)
    with torch.autocast(run.device.type, dtype=torch.float16, enabled=run.autocast):
        loss = run.model(
            pixel_values=batch["pixel_values"].to(run.device),
            labels=batch["labels"].to(run.device),
        ).loss
    if not torch.isfinite(loss):
        return float("nan")  # the step is skipped; the caller stops the run
    run.scaler.scale(loss).backward()
    if config.max_grad_norm > 0:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.max_grad_norm)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return float(loss.item())


def _save_best(run: _Run, metrics: dict[str, float], unknown: dict[str, int]) -> None:
    """``save_pretrained`` into a fresh folder, then swap it in place of ``best``."""
    best = run.config.out_dir / BEST_DIR
    partial = best.with_name(f".{BEST_DIR}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    run.model.save_pretrained(partial)
    run.processor.save_pretrained(partial)
    card = _card(run, {"epoch": run.epoch, **metrics}, run.epoch, "running", unknown)
    (partial / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    old = best.with_name(f".{BEST_DIR}.{os.getpid()}.old")
    if best.exists():
        best.replace(old)
    partial.replace(best)
    shutil.rmtree(old, ignore_errors=True)


def _write_card(
    run: _Run, records: Sequence[EpochRecord], stopped: str, unknown: dict[str, int]
) -> None:
    best = [r for r in records if r.best]
    metrics = {"epoch": best[-1].epoch, **best[-1].metrics} if best else {}
    trained = records[-1].epoch if records else 0
    card = _card(run, metrics, trained, stopped, unknown)
    (run.config.out_dir / BEST_DIR / CARD_FILE).write_text(
        json.dumps(card, indent=2) + "\n", "utf-8"
    )


def _card(
    run: _Run,
    best: dict[str, float],
    epochs_trained: int,
    stopped: str,
    unknown: dict[str, int],
) -> dict[str, Any]:
    import transformers

    options = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(run.config).items()}
    size = run.processor.image_processor.size
    return {
        "family": "trocr",
        "base_model": str(run.config.base_model),
        "image_size": [size.get("height"), size.get("width")],
        "vocab_size": int(run.model.decoder.config.vocab_size),
        "best_by": "lowest validation CER (greedy decoding, normalize_text on both sides)",
        "metrics": best,
        "epochs_trained": epochs_trained,
        "stopped": stopped,
        "unknown_chars": unknown,
        "options": options,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
