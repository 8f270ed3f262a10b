from __future__ import annotations

import random

import pytest

from shared import errors
from worker.retry_policy import MAX_BACKOFF_SECONDS, backoff_seconds, is_retryable


@pytest.mark.parametrize(
    ("attempt", "base", "expected"),
    [
        (1, 2.0, 2.0),
        (2, 2.0, 4.0),
        (3, 2.0, 8.0),
        (4, 2.0, 16.0),
        (5, 2.0, 32.0),
        (6, 2.0, MAX_BACKOFF_SECONDS),  # 64 capped
        (20, 2.0, MAX_BACKOFF_SECONDS),
        (1, 0.5, 0.5),
        (3, 0.5, 2.0),
        (1, 100.0, MAX_BACKOFF_SECONDS),  # base above the cap
        (0, 2.0, 2.0),  # attempts below 1 wait like the first
        (-3, 2.0, 2.0),
    ],
)
def test_backoff_without_jitter(attempt: int, base: float, expected: float) -> None:
    assert backoff_seconds(attempt, base, jitter=0.0) == pytest.approx(expected)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    delays = [backoff_seconds(n, 1.0, jitter=0.0) for n in range(1, 10)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert MAX_BACKOFF_SECONDS == 60.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 10])
@pytest.mark.parametrize("seed", range(5))
def test_backoff_jitter_within_25_percent(attempt: int, seed: int) -> None:
    rand = random.Random(seed)
    nominal = min(2.0 * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
    for _ in range(50):
        delay = backoff_seconds(attempt, 2.0, rand=rand)
        assert nominal * 0.75 <= delay <= nominal * 1.25


def test_backoff_jitter_actually_varies() -> None:
    rand = random.Random(42)
    delays = {backoff_seconds(3, 2.0, rand=rand) for _ in range(20)}
    assert len(delays) > 10
    # Both sides of the nominal delay are reached.
    assert min(delays) < 8.0 < max(delays)


def test_backoff_is_reproducible_with_a_seeded_random() -> None:
    first = [backoff_seconds(n, 1.5, rand=random.Random(7)) for n in range(1, 6)]
    second = [backoff_seconds(n, 1.5, rand=random.Random(7)) for n in range(1, 6)]
    assert first == second


def test_backoff_custom_jitter_bounds() -> None:
    rand = random.Random(3)
    for _ in range(100):
        assert 9.0 <= backoff_seconds(2, 5.0, jitter=0.1, rand=rand) <= 11.0


def test_backoff_never_negative_with_jitter_above_one() -> None:
    rand = random.Random(0)
    delays = [backoff_seconds(1, 1.0, jitter=2.0, rand=rand) for _ in range(200)]
    assert min(delays) == 0.0
    assert all(d >= 0.0 for d in delays)


def test_backoff_huge_attempt_is_capped() -> None:
    assert backoff_seconds(2000, 2.0, jitter=0.0) == MAX_BACKOFF_SECONDS


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.DatabaseUnavailable(), True),
        (errors.BrokerUnavailable(), True),
        (errors.StoreUnavailable(), True),
        (errors.DependencyUnavailable(), True),
        (errors.CorruptImage(), False),
        (errors.ImageTooLarge(), False),
        (errors.UnsupportedDocument(), False),
        (errors.EngineFailed(), False),
        (errors.ObjectMissing(), False),
        (errors.QuireError(), False),
        (RuntimeError("boom"), True),
        (ValueError("unexpected"), True),
        (TimeoutError(), True),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_is_retryable(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected
