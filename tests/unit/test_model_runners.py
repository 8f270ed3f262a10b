"""The LRU of chosen models' runners: a runner evicted while a page still uses it is closed
when that page is done, never under it; loads and evictions are counted."""

from __future__ import annotations

from typing import Any

import pytest

from shared.settings import Settings
from worker.model_runners import Choice, ModelRunners, _Loaded


class Runner:
    def __init__(self, name: str) -> None:
        self.name, self.closed = name, False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> ModelRunners:
    lru = ModelRunners(
        Settings(data_dir=tmp_path, loaded_models_max_mb=1),
        store=None,  # type: ignore[arg-type]
        sessions=None,
        default_engine=lambda: None,  # type: ignore[arg-type, return-value]
        make_runner=lambda engine: engine,  # type: ignore[arg-type, return-value]
    )

    def load(key: Choice) -> _Loaded:
        return _Loaded(Runner(str(key)), size_bytes=900_000)  # type: ignore[arg-type]

    monkeypatch.setattr(lru, "_load", load)
    return lru


def test_an_evicted_runner_in_use_closes_after_its_page(runners: ModelRunners) -> None:
    with runners.use({"recognizer": "a"}) as first:
        with runners.use({"recognizer": "b"}) as second:  # over the 1 MB budget: a goes
            assert runners.evictions == 1
            assert not first.closed  # a page still runs on it
        assert not second.closed
    assert first.closed and not second.closed
    assert runners.loads == 2


def test_a_runner_nobody_uses_closes_at_once_and_a_hit_loads_nothing(
    runners: ModelRunners,
) -> None:
    with runners.use({"recognizer": "a"}) as first:
        pass
    with runners.use({"recognizer": "a"}) as again:
        assert again is first
    with runners.use({"detector": "d"}):
        assert first.closed
    assert runners.loads == 2 and runners.evictions == 1
    runners.close()
