"""The task wrapper applies the retry policy: retry, give up, drop, or fail fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from shared.celery_config import build_celery
from shared.errors import AttemptsExhausted, CorruptImage, DatabaseUnavailable, ObjectMissing
from shared.queues import OCR_PAGE, PREPARE_JOB
from shared.settings import Settings
from worker.tasks import final_error, register_tasks, run_step


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


def test_bad_input_ends_the_row_with_its_own_error() -> None:
    given_up: list[BaseException] = []
    error = CorruptImage("bad")
    run_step(
        FakeTask(),
        ctx(),
        1,
        failing(error),  # type: ignore[arg-type]
        on_give_up=lambda _c, e: given_up.append(e),
    )
    assert given_up == [error]


def test_final_error_keeps_bad_input_and_wraps_the_rest() -> None:
    bad = ObjectMissing("object 'x' is missing")
    assert final_error(bad, "importing the dataset") is bad
    wrapped = final_error(RuntimeError("boom"), "importing the dataset")
    assert isinstance(wrapped, AttemptsExhausted)
    assert wrapped.message == "importing the dataset failed: boom"


def test_tasks_belong_to_their_own_app_only() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    first = build_celery(settings)
    register_tasks(first, ctx())
    second = build_celery(settings)

    @second.task(name=OCR_PAGE, shared=False)
    def own(**_kwargs: object) -> str:
        return "second"

    assert second.tasks[OCR_PAGE].run() == "second"
    assert PREPARE_JOB not in second.tasks
    assert PREPARE_JOB in first.tasks
    first.close()
    second.close()
