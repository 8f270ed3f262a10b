"""Pages of concurrent callers are pooled into shared detector and recognizer batches."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from shared.errors import EngineFailed
from tests.fakes import SizeRecognizer, StripeDetector, striped_page
from worker.engines.base import OcrEngine, PageOcr
from worker.page_runner import BatchedPageRunner


def runner_for(recognizer: SizeRecognizer, max_wait: float = 0.2) -> BatchedPageRunner:
    engine = OcrEngine(StripeDetector(), recognizer)
    return BatchedPageRunner(engine, detector_batch=8, recognizer_batch=64, max_wait=max_wait)


def run_concurrently(runner: BatchedPageRunner, pages: list[np.ndarray]) -> list[object]:
    results: list[object] = [None] * len(pages)
    barrier = threading.Barrier(len(pages))

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = runner.run_page(pages[i])
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(pages))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_crops_from_all_in_flight_pages_share_recognizer_batches() -> None:
    recognizer = SizeRecognizer()
    runner = runner_for(recognizer)
    pages = [striped_page([10 + i] * (i + 1)) for i in range(4)]  # 1..4 lines
    results = run_concurrently(runner, pages)
    for i, result in enumerate(results):
        assert isinstance(result, PageOcr)
        assert [line.text for line in result.lines] == [f"line 200x{10 + i}"] * (i + 1)
    assert sum(recognizer.calls) == 1 + 2 + 3 + 4
    assert max(recognizer.calls) > 4  # crops of several pages in one batch
    runner.close()


def test_a_failing_crop_fails_only_its_page() -> None:
    runner = runner_for(SizeRecognizer(poison_height=13))
    pages = [striped_page([12, 12]), striped_page([13]), striped_page([14])]
    results = run_concurrently(runner, pages)
    assert isinstance(results[0], PageOcr) and len(results[0].lines) == 2
    assert isinstance(results[1], EngineFailed)
    assert "recognition failed" in str(results[1])
    assert isinstance(results[2], PageOcr) and results[2].lines[0].text == "line 200x14"
    after = runner.run_page(striped_page([15]))  # the batchers keep serving
    assert after.lines[0].text == "line 200x15"
    runner.close()


def test_same_result_as_the_unbatched_engine() -> None:
    engine = OcrEngine(StripeDetector(), SizeRecognizer())
    runner = BatchedPageRunner(engine, detector_batch=2, recognizer_batch=3, max_wait=0.0)
    page = striped_page([10, 20, 30])
    assert runner.run_page(page) == engine.run([page])[0]
    runner.close()


def test_closed_runner_refuses_pages() -> None:
    runner = runner_for(SizeRecognizer())
    runner.close()
    with pytest.raises(RuntimeError):
        runner.run_page(striped_page([10]))
