"""The micro-batcher: flush on size, flush on time, bad items fail alone, order kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from worker.microbatch import BatcherClosed, MicroBatcher


class Recorder:
    def __init__(self, poison: int | None = None, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.poison, self.delay = poison, delay

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.batches.append(list(items))
        time.sleep(self.delay)
        if self.poison in items:
            raise ValueError(f"poisoned {self.poison}")
        return [i * 10 for i in items]


def test_flushes_when_the_batch_is_full() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, max_size=4, max_wait=10.0)
    started = time.monotonic()
    futures = batcher.submit_many(range(8))
    assert [f.result(timeout=5) for f in futures] == [i * 10 for i in range(8)]
    assert time.monotonic() - started < 5  # did not wait for max_wait
    assert fn.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    batcher.close()


def test_flushes_a_partial_batch_after_max_wait() -> None:
    fn = Recorder()
    batcher = MicroBatcher(fn, max_size=100, max_wait=0.2)
    started = time.monotonic()
    future = batcher.submit(7)
    assert future.result(timeout=5) == 70
    waited = time.monotonic() - started
    assert 0.15 <= waited < 3
    assert fn.batches == [[7]]
    batcher.close()


def test_items_from_many_threads_share_batches_and_get_their_own_results() -> None:
    fn = Recorder(delay=0.05)
    batcher = MicroBatcher(fn, max_size=16, max_wait=0.05)
    results: dict[int, int] = {}
    barrier = threading.Barrier(12)

    def client(n: int) -> None:
        barrier.wait()
        results[n] = batcher.submit(n).result(timeout=10)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 10 for n in range(12)}
    assert max(len(b) for b in fn.batches) > 1  # callers were pooled
    batcher.close()


def test_one_bad_item_fails_alone_and_the_batcher_keeps_serving() -> None:
    fn = Recorder(poison=3)
    batcher = MicroBatcher(fn, max_size=5, max_wait=0.5)
    futures = batcher.submit_many(range(5))
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=5))
        except ValueError as e:
            outcomes.append(str(e))
    assert outcomes == [0, 10, 20, "poisoned 3", 40]
    assert batcher.stats.isolated_failures == 1
    assert batcher.submit(9).result(timeout=5) == 90
    batcher.close()


def test_wrong_result_count_is_an_error_per_item() -> None:
    batcher = MicroBatcher(lambda items: [1], max_size=2, max_wait=10.0)
    first, second = batcher.submit_many([1, 2])
    assert first.result(timeout=5) == 1 and second.result(timeout=5) == 1  # alone: 1 == 1
    batcher.close()


def test_close_drains_queued_work_then_refuses_new() -> None:
    fn = Recorder(delay=0.05)
    batcher = MicroBatcher(fn, max_size=2, max_wait=0.01)
    futures = batcher.submit_many(range(6))
    batcher.close()
    assert [f.result(timeout=1) for f in futures] == [0, 10, 20, 30, 40, 50]
    with pytest.raises(BatcherClosed):
        batcher.submit(1)


@pytest.mark.parametrize(("size", "wait"), [(0, 0.1), (1, -1.0)])
def test_bad_limits_are_refused(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(lambda items: items, max_size=size, max_wait=wait)
