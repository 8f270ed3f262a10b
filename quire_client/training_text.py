"""Datasets, trainings and models in words: table rows, summaries, epoch lines, final lines."""

from __future__ import annotations

from quire_client.summary import format_duration
from quire_client.training_resources import Dataset, Epoch, Model, Training

FIRST_PROBLEMS = 5  # problems ``datasets push --wait`` prints; ``datasets show`` prints more
ALPHABET_SHOWN = 80


def _figure(value: float) -> str:
    """Four decimals; a small non-zero figure (a learning rate) in exponent form."""
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def metrics_text(metrics: dict[str, float]) -> str:
    """``val_cer 0.0812, val_wer 0.2100`` (in the server's order)."""
    return ", ".join(f"{name} {_figure(value)}" for name, value in metrics.items())


def epoch_line(epoch: Epoch, max_epochs: int) -> str:
    """``epoch 3/30: loss 0.4120, val_cer 0.0812, 41s (best)``."""
    parts = [f"loss {_figure(epoch.train_loss)}"]
    if epoch.metrics:
        parts.append(metrics_text(epoch.metrics))
    parts.append(format_duration(epoch.seconds))
    best = " (best)" if epoch.best else ""
    return f"epoch {epoch.epoch}/{max_epochs}: {', '.join(parts)}{best}"


def watch_postfix(training: Training) -> str:
    """What the epoch bar shows after the counts: status, last figures, the server's ETA."""
    parts = [training.status]
    if training.epochs:
        last = training.epochs[-1]
        parts.append(f"loss {_figure(last.train_loss)}")
        if last.metrics:
            parts.append(metrics_text(last.metrics))
    if not training.terminal:
        parts.append(f"eta {format_duration(training.eta_seconds)}")
    return "; ".join(parts)


def training_final_line(training: Training) -> str:
    """``training T: succeeded (epochs) after 2 of 2 epochs; model M``."""
    line = f"training {training.id}: {training.status}"
    if training.stopped:
        line += f" ({training.stopped})"
    line += f" after {training.epoch} of {training.max_epochs} epochs"
    best = [e for e in training.epochs if e.best]
    if best and best[-1].metrics:
        line += f"; best epoch {best[-1].epoch}: {metrics_text(best[-1].metrics)}"
    if training.model_id:
        line += f"; model {training.model_id}"
    if training.error:
        line += f"; error {training.error}"
    return line


def describe_training(training: Training) -> str:
    """The summary ``trainings show`` prints: status, every epoch, ETA, model."""
    lines = [
        f"training {training.id} ({training.name}, {training.kind}): {training.status}, "
        f"epoch {training.epoch} of {training.max_epochs}",
        f"  dataset: {training.dataset_id or '(deleted)'}",
    ]
    lines += [f"  {epoch_line(e, training.max_epochs)}" for e in training.epochs]
    if not training.terminal:
        lines.append(f"  eta: {format_duration(training.eta_seconds)}")
    if training.stopped:
        lines.append(f"  stopped: {training.stopped}")
    if training.model_id:
        lines.append(f"  model: {training.model_id}")
    if training.error:
        lines.append(f"  error: {training.error}")
    return "\n".join(lines)


def _alphabet(alphabet: str) -> str:
    shown = alphabet if len(alphabet) <= ALPHABET_SHOWN else alphabet[:ALPHABET_SHOWN] + "..."
    return f"{len(alphabet)} characters: {shown}"


def describe_dataset(dataset: Dataset, problems: int = FIRST_PROBLEMS) -> str:
    """The summary of a dataset: status, figures, its first ``problems`` problems."""
    lines = [f"dataset {dataset.id} ({dataset.name}): {dataset.status}"]
    stats = dataset.stats
    if stats is not None:
        lines.append(
            f"  pages: {stats.pages}, lines: {stats.lines}, characters: {stats.characters}"
        )
        lines.append(f"  alphabet: {_alphabet(stats.alphabet)}")
    if dataset.problems:
        counts = stats.problems if stats is not None and stats.problems else {}
        by_code = ", ".join(f"{code} {n}" for code, n in sorted(counts.items()))
        total = sum(counts.values()) or len(dataset.problems)
        lines.append(f"  problems: {total}" + (f" ({by_code})" if by_code else ""))
        for problem in dataset.problems[:problems]:
            where = f" line {problem.line}" if problem.line else ""
            lines.append(f"    {problem.file}{where}: {problem.code}: {problem.message}")
        if total > problems:
            lines.append(f"    ... {total - problems} more (datasets show {dataset.id} --json)")
    if dataset.error:
        lines.append(f"  error: {dataset.error}")
    return "\n".join(lines)


def dataset_header() -> str:
    return f"{'id':<36}  {'status':<9}  {'pages':>5}  {'lines':>6}  {'created (UTC)':<19}  name"


def dataset_row(dataset: Dataset, created: str) -> str:
    pages = str(dataset.stats.pages) if dataset.stats else "-"
    lines = str(dataset.stats.lines) if dataset.stats else "-"
    return (
        f"{dataset.id}  {dataset.status:<9}  {pages:>5}  {lines:>6}  {created:<19}  {dataset.name}"
    )


def training_header() -> str:
    return f"{'id':<36}  {'status':<16}  {'kind':<10}  {'epochs':<9}  {'created (UTC)':<19}  name"


def training_row(training: Training, created: str) -> str:
    epochs = f"{training.epoch}/{training.max_epochs}"
    return (
        f"{training.id}  {training.status:<16}  {training.kind:<10}  {epochs:<9}  "
        f"{created:<19}  {training.name}"
    )


def model_header() -> str:
    return f"{'id':<36}  {'name':<24}  {'ver':>3}  {'kind':<10}  {'marks':<16}  metric"


def model_row(model: Model) -> str:
    """One row of ``models list``: id, name, version, kind, builtin/default marks, metric."""
    marks = ",".join(m for m, on in (("builtin", model.builtin), ("default", model.default)) if on)
    main = model.main_metric
    metric = f"{main[0]} {_figure(main[1])}" if main else "-"
    return (
        f"{model.id:<36}  {model.name:<24}  {model.version:>3}  {model.kind:<10}  "
        f"{marks or '-':<16}  {metric}"
    )
