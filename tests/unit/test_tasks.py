"""The task wrapper applies the retry policy: retry, give up, drop, or fail fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from shared.errors import CorruptImage, DatabaseUnavailable
from shared.settings import Settings
from worker.tasks import run_step


class Retry(Exception):
    pass


@dataclass
class FakeTask:
    retries: int = 0
    name: str = "quire.test"
    retried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def request(self) -> SimpleNamespace:
        return SimpleNamespace(retries=self.retries)

    def retry(self, **kwargs: Any) -> Retry:
        self.retried.append(kwargs)
        return Retry()


def ctx() -> Any:
    return SimpleNamespace(settings=Settings(max_attempts=3, retry_backoff_seconds=2.0))


def failing(error: Exception) -> Any:
    def step(_ctx: Any) -> None:
        raise error

    return step


def test_success_runs_the_step_once() -> None:
    calls: list[int] = []
    run_step(FakeTask(), ctx(), 1, lambda _c: calls.append(1))  # type: ignore[arg-type]
    assert calls == [1]


def test_unknown_payload_version_is_dropped_without_running() -> None:
    calls: list[int] = []
    run_step(FakeTask(), ctx(), 99, lambda _c: calls.append(1))  # type: ignore[arg-type]
    assert calls == []


def test_bad_input_is_not_retried() -> None:
    task = FakeTask()
    run_step(task, ctx(), 1, failing(CorruptImage("bad")))  # type: ignore[arg-type]
    assert task.retried == []


@pytest.mark.parametrize("error", [DatabaseUnavailable("down"), RuntimeError("boom")])
def test_retryable_errors_are_retried_with_backoff(error: Exception) -> None:
    task, noted = FakeTask(retries=1), []
    with pytest.raises(Retry):
        run_step(
            task,
            ctx(),
            1,
            failing(error),  # type: ignore[arg-type]
            on_retry=lambda _c, e: noted.append(e),
        )
    assert noted == [error]
    assert len(task.retried) == 1
    assert 3.0 <= task.retried[0]["countdown"] <= 5.0  # second attempt: ~4 s +-25 %
    assert task.retried[0]["exc"] is error


def test_gives_up_after_max_attempts() -> None:
    task, given_up = FakeTask(retries=2), []
    run_step(
        task,
        ctx(),
        1,
        failing(RuntimeError("boom")),  # type: ignore[arg-type]
        on_give_up=lambda _c, e: given_up.append(str(e)),
    )
    assert given_up == ["boom"]
    assert task.retried == []


def test_give_up_that_fails_is_logged_not_raised() -> None:
    def broken(_c: Any, _e: BaseException) -> None:
        raise DatabaseUnavailable("still down")

    run_step(
        FakeTask(retries=5),
        ctx(),
        1,
        failing(RuntimeError("x")),  # type: ignore[arg-type]
        on_give_up=broken,
    )
