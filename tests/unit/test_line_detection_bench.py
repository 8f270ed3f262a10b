"""The pure parts of bench.line_detection: kraken polygons to boxes, scoring and the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.line_detection import (
    DetectorSummary,
    PageResult,
    kraken_line_box,
    markdown_report,
    meets_target,
    score_page,
    speedup,
    summarize,
    table_row,
    to_page_space,
)
from shared.groundtruth.model import GtPage


@pytest.mark.parametrize(
    ("boundary", "expected"),
    [
        # a closed kraken boundary (last point repeats the first), fractional coordinates
        (
            [[10.5, 20.2], [110.0, 19.0], [111.2, 45.0], [10.5, 44.0], [10.5, 20.2]],
            (10, 19, 112, 45),
        ),
        # clipped to the 200 x 100 page
        ([[-5, 90], [250, 90], [250, 130], [-5, 130]], (0, 90, 200, 100)),
        ([[1, 2], [3, 4]], None),  # two points enclose nothing
        (None, None),  # kraken found a baseline but no boundary
        ([[5, 50], [60, 50], [90, 50]], None),  # flat: no area
        ([[300, 10], [400, 10], [400, 30]], None),  # wholly right of the page
    ],
)
def test_kraken_line_box(boundary: list[list[float]] | None, expected: tuple[int, ...] | None):
    assert kraken_line_box(boundary, 200, 100) == expected


def test_score_page_matches_one_to_one_at_each_threshold():
    truth = [(0, 0, 100, 10), (0, 20, 100, 30)]
    found = [
        (0, 0, 100, 10),  # exact: matches at 0.5 and 0.3
        (0, 20, 100, 24),  # IoU 0.4: matches at 0.3 only
        (0, 0, 100, 10),  # a duplicate of the first: never matched twice
    ]
    result = score_page(truth, found, seconds=2.0)
    assert result == PageResult(2, 3, {0.5: 1, 0.3: 2}, 2.0)


def test_score_page_with_nothing_found_or_no_truth():
    assert score_page([(0, 0, 5, 5)], [], 1.0).matched == {0.5: 0, 0.3: 0}
    assert score_page([], [(0, 0, 5, 5)], 1.0).matched == {0.5: 0, 0.3: 0}


def _summary(name: str, pages: list[PageResult]) -> DetectorSummary:
    return summarize(name, pages)


KRAKEN = [PageResult(10, 11, {0.5: 8, 0.3: 9}, 12.0), PageResult(10, 10, {0.5: 9, 0.3: 10}, 16.0)]
FAST = [PageResult(10, 10, {0.5: 9, 0.3: 10}, 1.0), PageResult(10, 10, {0.5: 9, 0.3: 9}, 1.4)]


def test_summarize_pools_counts_and_times():
    summary = _summary("kraken", KRAKEN)
    assert (summary.pages, summary.truth_lines, summary.found_lines) == (2, 20, 21)
    assert summary.precision(0.3) == pytest.approx(19 / 21)
    assert summary.recall(0.3) == pytest.approx(19 / 20)
    assert summary.recall(0.5) == pytest.approx(17 / 20)
    assert summary.median_seconds == pytest.approx(14.0)
    assert summary.mean_seconds == pytest.approx(14.0)
    assert summary.pages_per_second == pytest.approx(2 / 28)


def test_empty_summary_has_no_rates():
    summary = _summary("ppocr", [])
    assert summary.precision(0.5) is None
    assert summary.recall(0.3) is None
    assert summary.median_seconds is None
    assert summary.pages_per_second is None


@pytest.mark.parametrize(
    ("pages", "verdict"),
    [
        (FAST, True),  # R@0.3 0.95, P@0.3 0.95, 14 / 1.2 = 11.7x
        ([PageResult(10, 10, {0.5: 9, 0.3: 9}, 1.0)] * 2, False),  # recall 0.90 < 0.94
        ([PageResult(10, 12, {0.5: 10, 0.3: 10}, 1.0)] * 2, False),  # precision 0.83 < 0.90
        ([PageResult(10, 10, {0.5: 10, 0.3: 10}, 2.0)] * 2, False),  # only 7x faster
    ],
)
def test_meets_target(pages: list[PageResult], verdict: bool):
    assert meets_target(_summary("yolo", pages), _summary("kraken", KRAKEN)) is verdict


def test_speedup_and_target_need_kraken():
    fast = _summary("ppocr", FAST)
    kraken = _summary("kraken", KRAKEN)
    assert speedup(fast, kraken) == pytest.approx(14.0 / 1.2)
    assert speedup(fast, None) is None
    assert meets_target(fast, None) is None
    assert meets_target(kraken, kraken) is None  # kraken is the yardstick, not a candidate


def test_table_row_cells():
    kraken = _summary("kraken", KRAKEN)
    row = table_row(_summary("ppocr", FAST), kraken)
    assert row == [
        "ppocr", "2", "20", "20", "0.900", "0.900", "0.950", "0.950",
        "1.20", "1.20", "0.83", "11.7", "yes",
    ]  # fmt: skip
    assert table_row(kraken, kraken)[-2:] == ["1.0", "—"]
    assert table_row(_summary("empty", []), kraken)[4:] == ["—"] * 8 + ["—"]


def test_markdown_report_names_machine_loads_and_every_detector():
    kraken = _summary("kraken", KRAKEN)
    kraken.load_seconds = 17.5
    text = markdown_report([kraken, _summary("ppocr", FAST)], "2026-12-02, x86_64", "gt/set")
    lines = text.splitlines()
    assert lines[0] == "2026-12-02, x86_64"
    assert "kraken 17.5 s" in lines[1]
    assert lines[4].startswith("| detector |")
    assert [line.split(" | ")[0] for line in lines[6:]] == ["| kraken", "| ppocr"]


def test_to_page_space_scales_to_the_declared_size():
    page = GtPage(Path("a.xml"), Path("a.jpg"), 200, 100, (), "alto-4")
    assert to_page_space([(10, 10, 21, 31)], (200, 100), page) == [(10, 10, 21, 31)]
    assert to_page_space([(10, 10, 21, 31)], (400, 200), page) == [(5, 5, 11, 16)]
