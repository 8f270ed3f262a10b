"""What an evaluation reports: a row per page, pooled totals, as JSON and as a markdown table.

Totals pool counts (sum of edits over sum of reference lengths), never means of page ratios,
so a long page weighs as much as its characters.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from training.evaluation.metrics import Ratio


@dataclass(frozen=True)
class PageScore:
    """The counts of one page (or, pooled, of many) behind every figure of the report.

    ``matched`` holds the one-to-one line matches per IoU threshold. ``cer`` and ``wer`` (and
    their case-folded twins) count edits over the truth lines' lengths, a truth line without
    a match counting as wholly deleted. ``word_recall`` and ``word_precision`` compare the
    page's bags of words, whatever the lines and their order.
    """

    page: str
    seconds: float
    truth_lines: int
    found_lines: int
    matched: dict[float, int]
    cer: Ratio
    cer_folded: Ratio
    wer: Ratio
    wer_folded: Ratio
    word_recall: Ratio
    word_precision: Ratio
    pages: int = 1

    def line_recall(self, threshold: float) -> Ratio:
        """Truth lines matched one-to-one at IoU >= ``threshold``, over all truth lines."""
        return Ratio(self.matched[threshold], self.truth_lines)

    def line_precision(self, threshold: float) -> Ratio:
        """Found lines matched one-to-one at IoU >= ``threshold``, over all found lines."""
        return Ratio(self.matched[threshold], self.found_lines)

    @property
    def seconds_per_page(self) -> float:
        return self.seconds / self.pages if self.pages else 0.0

    def __add__(self, other: PageScore) -> PageScore:
        if self.matched.keys() != other.matched.keys():
            raise ValueError("cannot pool scores matched at different IoU thresholds")
        return PageScore(
            page="total",
            seconds=self.seconds + other.seconds,
            truth_lines=self.truth_lines + other.truth_lines,
            found_lines=self.found_lines + other.found_lines,
            matched={t: n + other.matched[t] for t, n in self.matched.items()},
            cer=self.cer + other.cer,
            cer_folded=self.cer_folded + other.cer_folded,
            wer=self.wer + other.wer,
            wer_folded=self.wer_folded + other.wer_folded,
            word_recall=self.word_recall + other.word_recall,
            word_precision=self.word_precision + other.word_precision,
            pages=self.pages + other.pages,
        )


def pool(scores: Iterable[PageScore], thresholds: Sequence[float]) -> PageScore:
    """The pooled score of several pages, named ``total``; all zero for no page at all."""
    nothing = Ratio()
    empty = PageScore(
        page="total",
        seconds=0.0,
        truth_lines=0,
        found_lines=0,
        matched=dict.fromkeys(thresholds, 0),
        cer=nothing,
        cer_folded=nothing,
        wer=nothing,
        wer_folded=nothing,
        word_recall=nothing,
        word_precision=nothing,
        pages=0,
    )
    return reduce(lambda total, score: total + score, scores, empty)


def machine_facts() -> dict[str, Any]:
    """Where the evaluation ran, as the report records it."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


@dataclass
class EvalReport:
    """One engine scored over a set of ground-truth pages.

    ``engine`` is the name it was chosen by, ``model`` its own name (its models' identities).
    ``line_iou`` is the IoU at which lines are paired for CER and WER; ``thresholds`` those
    at which line precision and recall are given. ``skipped`` names the pages whose image
    could not be read, with the reason.
    """

    engine: str
    line_iou: float
    thresholds: tuple[float, ...]
    model: str = ""
    pages: list[PageScore] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    machine: dict[str, Any] = field(default_factory=machine_facts)

    @property
    def totals(self) -> PageScore:
        return pool(self.pages, self.thresholds)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values: rates (None where undefined) and their counts."""
        return {
            "engine": self.engine,
            "model": self.model or self.engine,
            "date": self.created.isoformat(timespec="seconds"),
            "machine": self.machine,
            "line_iou": self.line_iou,
            "pages": [score_dict(score, self.thresholds) for score in self.pages],
            "skipped": [{"page": page, "reason": reason} for page, reason in self.skipped],
            "totals": score_dict(self.totals, self.thresholds),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def table(self) -> str:
        """A markdown table: one row per page, then the pooled total in bold."""
        columns = figure_columns(self.thresholds)
        rows = [[score.page, *(cell(score) for _, cell in columns)] for score in self.pages]
        total = self.totals
        rows.append([f"**{text}**" for text in ["total", *(cell(total) for _, cell in columns)]])
        return markdown_table(["page", *(name for name, _ in columns)], rows)


def score_dict(score: PageScore, thresholds: Sequence[float]) -> dict[str, Any]:
    """One row of the JSON report: the rates first, then the counts that make them."""
    ratios = {
        "cer": score.cer,
        "cer_folded": score.cer_folded,
        "wer": score.wer,
        "wer_folded": score.wer_folded,
        "word_recall": score.word_recall,
        "word_precision": score.word_precision,
    }
    return {
        "page": score.page,
        "pages": score.pages,
        "seconds": round(score.seconds, 4),
        "seconds_per_page": round(score.seconds_per_page, 4),
        "truth_lines": score.truth_lines,
        "found_lines": score.found_lines,
        "line_precision": {str(t): score.line_precision(t).value for t in thresholds},
        "line_recall": {str(t): score.line_recall(t).value for t in thresholds},
        **{name: ratio.value for name, ratio in ratios.items()},
        "counts": {
            "matched": {str(t): score.matched[t] for t in thresholds},
            **{name: {"part": r.part, "whole": r.whole} for name, r in ratios.items()},
        },
    }


Column = tuple[str, Callable[[PageScore], str]]


def figure_columns(thresholds: Sequence[float]) -> list[Column]:
    """The table's figures, shared by the per-page table and the comparison of engines."""
    columns: list[Column] = [
        ("lines", lambda s: str(s.truth_lines)),
        ("found", lambda s: str(s.found_lines)),
    ]
    for t in thresholds:
        columns += _line_columns(t)
    columns += [
        ("CER", lambda s: _rate(s.cer)),
        ("CER folded", lambda s: _rate(s.cer_folded)),
        ("WER", lambda s: _rate(s.wer)),
        ("WER folded", lambda s: _rate(s.wer_folded)),
        ("word R", lambda s: _rate(s.word_recall)),
        ("word P", lambda s: _rate(s.word_precision)),
        ("s/page", lambda s: f"{s.seconds_per_page:.2f}"),
    ]
    return columns


def _line_columns(threshold: float) -> list[Column]:
    return [
        (f"P@{threshold:g}", lambda s: _rate(s.line_precision(threshold))),
        (f"R@{threshold:g}", lambda s: _rate(s.line_recall(threshold))),
    ]


def comparison_table(reports: Sequence[EvalReport]) -> str:
    """A markdown table of several engines' totals over the same pages, one row per engine."""
    if not reports:
        return ""
    columns: list[Column] = [("pages", lambda s: str(s.pages))]
    columns += figure_columns(reports[0].thresholds)
    rows = [[r.engine, *(cell(r.totals) for _, cell in columns)] for r in reports]
    return markdown_table(["engine", *(name for name, _ in columns)], rows)


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A pipe table: a header row, its rule, then the rows."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _rate(ratio: Ratio) -> str:
    value = ratio.value
    return "—" if value is None else f"{value:.3f}"
