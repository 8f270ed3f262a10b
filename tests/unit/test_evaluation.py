"""Evaluation maths and reports: edit distance, IoU, one-to-one matching, pooling, end to end."""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from shared.groundtruth.model import GtLine, GtPage
from shared.settings import Settings
from training.evaluation.metrics import (
    Box,
    Ratio,
    bag_overlap,
    box_iou,
    edit_distance,
    iou_matrix,
    match_by_iou,
    words,
)
from training.evaluation.report import EvalReport, PageScore, comparison_table, pool
from training.evaluation.runner import FoundLine, evaluate, score_page
from worker.engines.base import OcrLine, PageOcr

# --- metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        pytest.param("", "", 0, id="both-empty"),
        pytest.param("abc", "", 3, id="all-deleted"),
        pytest.param("", "abc", 3, id="all-inserted"),
        pytest.param("abc", "abc", 0, id="equal"),
        pytest.param("kitten", "sitting", 3, id="kitten-sitting"),
        pytest.param("flaw", "lawn", 2, id="flaw-lawn"),
        pytest.param("ab", "ba", 2, id="transposition-costs-two"),
        pytest.param("Église", "eglise", 1, id="accent-and-case"),
        pytest.param("intention", "execution", 5, id="intention-execution"),
        pytest.param("aaaa", "aa", 2, id="repeats"),
        pytest.param(["le", "chat", "dort"], ["le", "chien", "dort"], 1, id="words-substitution"),
        pytest.param(["le", "chat"], ["chat", "le"], 2, id="words-swapped"),
        pytest.param(["a", "b", "c"], ["a", "c"], 1, id="words-deletion"),
    ],
)
def test_edit_distance(reference: Sequence[str], hypothesis: Sequence[str], expected: int) -> None:
    assert edit_distance(reference, hypothesis) == expected
    assert edit_distance(hypothesis, reference) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  le   chat ", ["le", "chat"]),
        ("l'église, 1887.", ["l'église,", "1887."]),
    ],
)
def test_words_are_runs_of_non_space(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param((0, 0, 10, 10), (0, 0, 10, 10), 1.0, id="identical"),
        pytest.param((0, 0, 10, 10), (20, 0, 30, 10), 0.0, id="disjoint"),
        pytest.param((0, 0, 10, 10), (10, 0, 20, 10), 0.0, id="touching-edges"),
        pytest.param((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150, id="half-shifted"),
        pytest.param((0, 0, 10, 10), (0, 0, 5, 10), 0.5, id="contained-half"),
        pytest.param((0, 0, 10, 10), (2, 2, 8, 8), 36 / 100, id="inside"),
        pytest.param((0, 0, 10, 10), (5, 5, 15, 15), 25 / 175, id="corner"),
        pytest.param((0, 0, 10, 10), (3, 3, 3, 9), 0.0, id="no-area"),
        pytest.param((0, 0, 0, 0), (0, 0, 0, 0), 0.0, id="both-empty"),
    ],
)
def test_box_iou(a: Box, b: Box, expected: float) -> None:
    assert box_iou(a, b) == pytest.approx(expected)
    assert box_iou(b, a) == pytest.approx(expected)


@pytest.mark.parametrize(("rows", "cols"), [(0, 0), (0, 3), (2, 0), (2, 3)])
def test_iou_matrix_shape_holds_for_empty_sides(rows: int, cols: int) -> None:
    boxes = [(0, 0, 10, 10)] * max(rows, cols)
    assert iou_matrix(boxes[:rows], boxes[:cols]).shape == (rows, cols)


@pytest.mark.parametrize(
    ("iou", "threshold", "expected"),
    [
        pytest.param([[0.9]], 0.5, [(0, 0)], id="one-pair"),
        pytest.param([[0.5]], 0.5, [(0, 0)], id="threshold-inclusive"),
        pytest.param([[0.49]], 0.5, [], id="below-threshold"),
        pytest.param([[0.4]], 0.3, [(0, 0)], id="lower-threshold"),
        # one found box over two truth lines serves only one of them
        pytest.param([[0.6], [0.6]], 0.5, [(0, 0)], id="many-truth-one-found"),
        pytest.param([[0.6, 0.7]], 0.5, [(0, 1)], id="one-truth-many-found"),
        # greedy highest-first takes (0, 0) and strands truth 1; the optimum pairs both
        pytest.param([[0.6, 0.55], [0.55, 0.0]], 0.5, [(0, 1), (1, 0)], id="greedy-trap"),
        pytest.param(
            [[0.9, 0.8, 0.0], [0.85, 0.0, 0.0], [0.0, 0.0, 0.2]],
            0.5,
            [(0, 1), (1, 0)],
            id="greedy-trap-with-stray",
        ),
        pytest.param(np.zeros((0, 3)), 0.5, [], id="no-truth"),
        pytest.param(np.zeros((3, 0)), 0.5, [], id="nothing-found"),
    ],
)
def test_match_by_iou(iou: object, threshold: float, expected: list[tuple[int, int]]) -> None:
    assert match_by_iou(np.asarray(iou, dtype=np.float64), threshold) == expected


def _best_total(iou: np.ndarray, threshold: float) -> float:
    """The largest summed IoU of any one-to-one pairing, by trying every permutation."""
    weights = np.where(iou >= threshold, iou, 0.0)
    if weights.shape[0] > weights.shape[1]:
        weights = weights.T
    rows, cols = weights.shape
    best = 0.0
    for chosen in itertools.permutations(range(cols), rows):
        best = max(best, float(sum(weights[r, c] for r, c in enumerate(chosen))))
    return best


def test_match_by_iou_is_one_to_one_and_optimal_on_random_matrices() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        rows, cols = (int(n) for n in rng.integers(0, 6, size=2))
        iou = rng.random((rows, cols)) * rng.integers(0, 2, size=(rows, cols))
        threshold = float(rng.choice([0.3, 0.5]))
        pairs = match_by_iou(iou, threshold)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        assert all(iou[r, c] >= threshold for r, c in pairs)
        total = sum(iou[r, c] for r, c in pairs)
        assert total == pytest.approx(_best_total(iou, threshold))


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5])
def test_match_by_iou_refuses_thresholds_outside_zero_one(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        match_by_iou(np.ones((1, 1)), threshold)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        (["le", "chat"], ["chat", "le"], 2),
        (["le", "le", "chat"], ["le", "chat", "chat"], 2),
        (["le", "le", "le"], ["le"], 1),
        (["le"], ["le", "le", "le"], 1),
        (["Le"], ["le"], 0),
        ([], ["le"], 0),
    ],
)
def test_bag_overlap_counts_repeated_words_once_each(
    reference: list[str], hypothesis: list[str], expected: int
) -> None:
    assert bag_overlap(reference, hypothesis) == expected


def test_ratio_pools_counts_not_rates() -> None:
    assert (Ratio(1, 2) + Ratio(0, 98)).value == pytest.approx(0.01)
    assert Ratio().value is None
    assert Ratio(3, 0).value is None


# --- page scores -----------------------------------------------------------------------------


def gt_page(
    lines: Sequence[tuple[str, Box]], name: str = "p.xml", image: Path | None = None
) -> GtPage:
    return GtPage(
        source=Path(name),
        image=image or Path("p.png"),
        width=1000,
        height=800,
        lines=tuple(GtLine(f"l{i}", text, box) for i, (text, box) in enumerate(lines)),
        format="page-2019-07-15",
    )


ROW1, ROW2, ROW3 = (100, 100, 900, 150), (100, 200, 900, 250), (100, 300, 900, 350)


def score(
    truth: Sequence[tuple[str, Box]], found: Sequence[tuple[str, Box]], line_iou: float = 0.5
) -> PageScore:
    lines = [FoundLine(text, box) for text, box in found]
    return score_page(gt_page(truth), lines, 1.0, line_iou=line_iou)


@pytest.mark.parametrize(
    ("truth", "found", "cer", "cer_folded", "wer"),
    [
        pytest.param([("abc", ROW1)], [("abc", ROW1)], (0, 3), (0, 3), (0, 1), id="exact"),
        pytest.param([("abc", ROW1)], [("abd", ROW1)], (1, 3), (1, 3), (1, 1), id="one-sub"),
        pytest.param(
            [("abc", ROW1), ("defg", ROW2)],
            [("abd", ROW1)],
            (1 + 4, 7),
            (1 + 4, 7),
            (1 + 1, 2),
            id="unmatched-truth-is-deleted",
        ),
        pytest.param(
            [("abc", ROW1)], [("abc", (100, 400, 900, 450))], (3, 3), (3, 3), (1, 1), id="far-box"
        ),
        pytest.param(
            [("Paris en Mai", ROW1)],
            [("paris en mai", ROW1)],
            (2, 12),
            (0, 12),
            (2, 3),
            id="case-folding",
        ),
        pytest.param(
            [("l\u2019\u00e9glise  —  1887", ROW1)],
            [("l'e\u0301glise - 1887", ROW1)],
            (0, 15),
            (0, 15),
            (0, 3),
            id="normalised-both-sides",
        ),
        pytest.param(
            [("abc", ROW1)],
            [("abc", ROW1), ("marginal note", ROW3)],
            (0, 3),
            (0, 3),
            (0, 1),
            id="stray-found-line-not-in-cer",
        ),
        pytest.param(
            [("un deux", ROW1), ("trois", ROW2)],
            [("trois", ROW2), ("un deux", ROW1)],
            (0, 12),
            (0, 12),
            (0, 3),
            id="order-of-found-lines-does-not-matter",
        ),
    ],
)
def test_score_page_text_errors(
    truth: list[tuple[str, Box]],
    found: list[tuple[str, Box]],
    cer: tuple[int, int],
    cer_folded: tuple[int, int],
    wer: tuple[int, int],
) -> None:
    page = score(truth, found)
    assert (page.cer.part, page.cer.whole) == cer
    assert (page.cer_folded.part, page.cer_folded.whole) == cer_folded
    assert (page.wer.part, page.wer.whole) == wer


def test_one_wide_found_line_over_two_truth_lines_pairs_with_one_only() -> None:
    # a found box spanning both truth rows overlaps each at IoU 0.4: paired with one at 0.3
    page = score([("abc", ROW1), ("def", (100, 150, 900, 200))], [("abcdef", (100, 100, 900, 225))])
    assert page.matched == {0.5: 0, 0.3: 1}
    assert page.line_recall(0.3) == Ratio(1, 2)
    assert page.line_precision(0.3) == Ratio(1, 1)
    loose = score(
        [("abc", ROW1), ("def", (100, 150, 900, 200))],
        [("abcdef", (100, 100, 900, 225))],
        line_iou=0.3,
    )
    assert loose.cer == Ratio(3 + 3, 6)  # one line 3 characters short, the other deleted


def test_line_precision_and_recall_at_both_thresholds() -> None:
    half_height = (100, 100, 900, 125)  # IoU 0.5 with ROW1
    shifted = (100, 215, 900, 265)  # IoU 35/65 ~ 0.54 with ROW2
    low = (100, 300, 900, 320)  # IoU 0.4 with ROW3
    page = score(
        [("a", ROW1), ("b", ROW2), ("c", ROW3)],
        [("a", half_height), ("b", shifted), ("c", low), ("x", (0, 700, 50, 750))],
    )
    assert page.matched == {0.5: 2, 0.3: 3}
    assert page.line_recall(0.5).value == pytest.approx(2 / 3)
    assert page.line_precision(0.5).value == pytest.approx(2 / 4)
    assert page.line_recall(0.3).value == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("truth", "found", "recall", "precision"),
    [
        pytest.param(["le chat le chien"], ["le chien"], (2, 4), (2, 2), id="repeated-truth"),
        pytest.param(["le chat"], ["le le le chat"], (2, 2), (2, 4), id="repeated-found"),
        pytest.param(["un deux", "trois"], ["trois deux un"], (3, 3), (3, 3), id="order-free"),
        pytest.param(["Le Chat"], ["le chat"], (0, 2), (0, 2), id="case-sensitive"),
        pytest.param(["le chat"], [], (0, 2), (0, 0), id="nothing-found"),
    ],
)
def test_page_word_recall_and_precision(
    truth: list[str], found: list[str], recall: tuple[int, int], precision: tuple[int, int]
) -> None:
    boxes = [ROW1, ROW2, ROW3]
    far = [(0, 600 + 40 * i, 50, 630 + 40 * i) for i in range(3)]  # matched or not, no matter
    page = score(list(zip(truth, boxes, strict=False)), list(zip(found, far, strict=False)))
    assert page.word_recall == Ratio(*recall)
    assert page.word_precision == Ratio(*precision)


def test_totals_pool_counts_over_pages_not_mean_of_ratios() -> None:
    short = score([("ab", ROW1)], [("ax", ROW1)])  # CER 1/2
    long = score([("a" * 98, ROW1)], [("a" * 98, ROW1)])  # CER 0/98
    total = pool([short, long], (0.5, 0.3))
    assert total.cer == Ratio(1, 100)
    assert total.cer.value == pytest.approx(0.01)  # a mean of the two ratios would be 0.25
    assert (total.pages, total.truth_lines, total.matched) == (2, 2, {0.5: 2, 0.3: 2})
    assert total.seconds_per_page == pytest.approx(1.0)


def test_pool_of_no_page_is_empty() -> None:
    total = pool([], (0.5,))
    assert (total.pages, total.cer.value, total.line_recall(0.5).value) == (0, None, None)


# --- end to end with a fake engine -----------------------------------------------------------


class ScriptedEngine:
    """Answers each page with the next scripted list of lines; records the pages it saw."""

    def __init__(self, script: list[list[tuple[str, Box]]], name: str = "scripted"):
        self.name = name
        self.script = list(script)
        self.shapes: list[tuple[int, ...]] = []

    def run(self, pages: Sequence[np.ndarray]) -> list[PageOcr]:
        results = []
        for pixels in pages:
            self.shapes.append(pixels.shape)
            lines = [OcrLine(text, 0.9, box) for text, box in self.script.pop(0)]
            results.append(PageOcr(pixels.shape[1], pixels.shape[0], lines))
        return results


def write_image(path: Path, size: tuple[int, int] = (1000, 800)) -> Path:
    Image.new("L", size, 255).save(path)
    return path


def test_evaluate_end_to_end(tmp_path: Path) -> None:
    first = gt_page([("Le chat", ROW1), ("dort", ROW2)], "a.xml", write_image(tmp_path / "a.png"))
    second = gt_page([("abc", ROW1)], "b.xml", write_image(tmp_path / "b.png"))
    engine = ScriptedEngine([[("le chat", ROW1)], [("abc", ROW1), ("noise", ROW3)]])
    report = evaluate(engine, [first, second], progress=False)
    assert engine.shapes == [(800, 1000, 3), (800, 1000, 3)]  # RGB from a grey image
    assert [p.page for p in report.pages] == ["a.xml", "b.xml"]
    total = report.totals
    assert total.cer == Ratio(1 + 4, 11 + 3)
    assert total.cer_folded == Ratio(4, 14)
    assert total.wer == Ratio(1 + 1, 3 + 1)
    assert (total.line_recall(0.5), total.line_precision(0.5)) == (Ratio(2, 3), Ratio(2, 3))
    assert total.word_recall == Ratio(1 + 1, 3 + 1)
    assert all(p.seconds >= 0 for p in report.pages)

    document = json.loads(report.to_json())
    assert document["engine"] == "scripted"
    assert document["model"] == "scripted"
    assert document["machine"]["cpu_count"] >= 1
    assert [row["page"] for row in document["pages"]] == ["a.xml", "b.xml"]
    assert document["totals"]["cer"] == pytest.approx(5 / 14)
    assert document["totals"]["line_recall"] == {"0.5": pytest.approx(2 / 3), "0.3": 2 / 3}
    assert document["totals"]["counts"]["cer"] == {"part": 5, "whole": 14}
    assert document["pages"][1]["line_precision"]["0.5"] == 0.5

    table = report.table().splitlines()
    assert len(table) == 2 + 2 + 1  # header, rule, a row per page, the total
    assert table[0].startswith("| page | lines | found | P@0.5 | R@0.5 | P@0.3 | R@0.3 | CER")
    assert table[-1].startswith("| **total** | **3** | **3** |")


def test_evaluate_skips_pages_whose_image_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not an image")
    pages = [
        gt_page([("abc", ROW1)], "missing.xml", tmp_path / "missing.png"),
        gt_page([("abc", ROW1)], "broken.xml", tmp_path / "broken.png"),
        gt_page([("abc", ROW1)], "fine.xml", write_image(tmp_path / "fine.png")),
    ]
    report = evaluate(ScriptedEngine([[("abc", ROW1)]]), pages, progress=False)
    assert [p.page for p in report.pages] == ["fine.xml"]
    assert [Path(page).name for page, _ in report.skipped] == ["missing.xml", "broken.xml"]
    assert json.loads(report.to_json())["skipped"][0]["reason"].startswith("image unreadable")


def test_found_boxes_scale_to_the_declared_page_size(tmp_path: Path) -> None:
    # the image was halved after transcription; the truth still speaks of 1000 x 800
    page = gt_page([("abc", ROW1)], "a.xml", write_image(tmp_path / "a.png", (500, 400)))
    engine = ScriptedEngine([[("abc", (50, 50, 450, 75))]])
    report = evaluate(engine, [page], progress=False)
    assert engine.shapes == [(400, 500, 3)]
    assert report.totals.matched == {0.5: 1, 0.3: 1}
    assert report.totals.cer == Ratio(0, 3)


def test_comparison_table_has_one_row_per_engine() -> None:
    page = score([("abc", ROW1)], [("abd", ROW1)])
    reports = [EvalReport(name, 0.5, (0.5, 0.3), pages=[page]) for name in ("one", "two")]
    lines = comparison_table(reports).splitlines()
    assert lines[0].startswith("| engine | pages | lines | found | P@0.5")
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| one", "| two"]
    assert "| 0.333 |" in lines[2]


# --- the CLI with a fake engine registered -----------------------------------------------------


def eval_args(*words: str) -> argparse.Namespace:
    from cli.eval_cmd import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *words])


def built_as(engine: ScriptedEngine) -> Callable[[Settings], Any]:
    """A registry factory handing out the given fake engine."""
    return lambda _settings: engine


def test_cli_arguments() -> None:
    args = eval_args("--gt", "a", "--gt", "b.xml", "--engine", "x", "--engine", "y")
    assert (args.gt, args.engines, args.line_iou, args.limit) == (
        [Path("a"), Path("b.xml")],
        ["x", "y"],
        0.5,
        None,
    )
    assert eval_args("--gt", "a", "--line-iou", "0.3", "--limit", "5").line_iou == 0.3
    for bad in (["--line-iou", "0"], ["--line-iou", "1.2"], ["--limit", "0"]):
        with pytest.raises(SystemExit):
            eval_args("--gt", "a", *bad)


def test_cli_scores_each_engine_on_the_same_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import eval_cmd
    from worker.engines import registry

    pages = [gt_page([("abc", ROW1)], f"{n}.xml", write_image(tmp_path / f"{n}.png")) for n in "ab"]
    monkeypatch.setattr(eval_cmd, "load_pages", lambda gt, images, limit: pages[:limit])
    scripts = {"good": ("abc", ROW1), "poor": ("xyz", ROW1)}
    for name, line in scripts.items():
        factory = built_as(ScriptedEngine([[line], [line]], name))
        monkeypatch.setitem(registry.ENGINES, name, factory)
    out = tmp_path / "out" / "eval.json"
    args = eval_args("--gt", "gt", "--engine", "good", "--engine", "poor", "--json", str(out))
    assert eval_cmd.run(args, Settings(data_dir=tmp_path)) == 0
    document = json.loads(out.read_text())
    assert [r["engine"] for r in document["reports"]] == ["good", "poor"]
    assert [r["model"] for r in document["reports"]] == ["good", "poor"]
    assert [r["totals"]["cer"] for r in document["reports"]] == [0.0, 1.0]
    assert all(r["totals"]["pages"] == 2 for r in document["reports"])
    printed = capsys.readouterr().out
    assert "## engines side by side" in printed
    assert "| good | 2 |" in printed


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--engine", "nope"], "unknown QUIRE_ENGINE 'nope'"),
        (["--limit", "1"], None),
    ],
)
def test_cli_exit_codes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    message: str | None,
) -> None:
    from cli import eval_cmd
    from worker.engines import registry

    page = gt_page([("abc", ROW1)], "a.xml", write_image(tmp_path / "a.png"))
    monkeypatch.setattr(eval_cmd, "load_pages", lambda gt, images, limit: [page])
    monkeypatch.setitem(registry.ENGINES, "ppocr", built_as(ScriptedEngine([[("abc", ROW1)]])))
    code = eval_cmd.run(eval_args("--gt", "gt", *words), Settings(data_dir=tmp_path))
    assert code == (2 if message else 0)
    if message:
        assert message in capsys.readouterr().err


def test_cli_without_any_page_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import eval_cmd

    monkeypatch.setattr(eval_cmd, "load_pages", lambda gt, images, limit: [])
    assert eval_cmd.run(eval_args("--gt", str(tmp_path)), Settings(data_dir=tmp_path)) == 2
    assert "no ground-truth page" in capsys.readouterr().err


def test_evaluate_reports_the_name_the_engine_was_chosen_by(tmp_path: Path) -> None:
    page = gt_page([("abc", ROW1)], "a.xml", write_image(tmp_path / "a.png"))
    engine = ScriptedEngine([[("abc", ROW1)]], name="det@1+rec@2")
    report = evaluate(engine, [page], progress=False, label="ppocr")
    assert (report.engine, report.model) == ("ppocr", "det@1+rec@2")
