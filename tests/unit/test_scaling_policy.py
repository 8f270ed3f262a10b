"""The scaling policy, rule by rule: need, scale out, scale from zero, scale in, zero."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import pytest

from worker.scaling.policy import (
    Observation,
    PolicyConfig,
    backlog_per_task,
    desired_workers,
    needed_workers,
)

CFG = PolicyConfig()  # min 0, max 10, target 120 s, out 60 s, in 300 s, zero after 600 s
NOW = 10_000.0


def observe(**overrides: Any) -> Observation:
    """An observation at NOW, 2 pages/s per worker, every cooldown long passed, no work."""
    values: dict[str, Any] = {
        "now": NOW,
        "backlog": 0,
        "in_flight": 0,
        "running_workers": 0,
        "busy_workers": 0,
        "pages_per_worker_second": 2.0,
        "last_scale_out": -math.inf,
        "last_scale_in": -math.inf,
        "last_work_seen": -math.inf,
    }
    values.update(overrides)
    return Observation(**values)


@pytest.mark.parametrize(
    ("work", "rate", "target", "expected"),
    [
        (0, 2.0, 120.0, 0),
        (1, 2.0, 120.0, 1),
        (240, 2.0, 120.0, 1),  # exactly one worker-target of work
        (241, 2.0, 120.0, 2),
        (5000, 2.0, 120.0, 21),  # unclamped
        (100, 0.5, 60.0, 4),
    ],
)
def test_needed_workers(work: int, rate: float, target: float, expected: int) -> None:
    assert needed_workers(work, rate, target) == expected


@pytest.mark.parametrize(
    ("overrides", "cfg", "expected"),
    [
        # need = ceil((backlog + in_flight) / (2 * 120)), clamped to [min, max]
        ({"backlog": 240, "running_workers": 1, "busy_workers": 1}, CFG, 1),
        ({"backlog": 200, "in_flight": 41, "running_workers": 1, "busy_workers": 1}, CFG, 2),
        ({"backlog": 5000}, CFG, 10),  # clamped to max_workers
        ({"backlog": 5000}, replace(CFG, max_workers=4), 4),
        ({}, CFG, 0),  # nothing to do, nothing running
        ({}, replace(CFG, min_workers=2), 2),  # the floor holds without work
    ],
)
def test_need_is_clamped(overrides: dict[str, Any], cfg: PolicyConfig, expected: int) -> None:
    assert desired_workers(observe(**overrides), cfg) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # cooldown passed: straight to need, not one step at a time
        ({"backlog": 1000, "running_workers": 2, "busy_workers": 2}, 5),
        ({"backlog": 1000, "running_workers": 2, "last_scale_out": NOW - 60}, 5),  # boundary
        # cooldown running: hold
        ({"backlog": 1000, "running_workers": 2, "last_scale_out": NOW - 59}, 2),
        ({"backlog": 5000, "running_workers": 3, "last_scale_out": NOW - 1}, 3),
    ],
)
def test_scale_out(overrides: dict[str, Any], expected: int) -> None:
    assert desired_workers(observe(**overrides), CFG) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"backlog": 1}, 1),
        ({"backlog": 5000}, 10),  # cooldown passed: all the way to need at once
        ({"backlog": 1, "last_scale_out": NOW - 1}, 1),  # 0 -> 1 whatever the cooldown
        ({"backlog": 5000, "last_scale_out": NOW - 1}, 1),  # ... but only one in cooldown
        ({"backlog": 5000, "last_scale_out": NOW}, 1),
    ],
)
def test_scale_from_zero(overrides: dict[str, Any], expected: int) -> None:
    assert desired_workers(observe(**overrides), CFG) == expected


def test_scale_from_zero_respects_max_workers_zero() -> None:
    cfg = replace(CFG, max_workers=0)
    assert desired_workers(observe(backlog=10, last_scale_out=NOW), cfg) == 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # need 1 (100 pages), 6 running, all but one idle
        ({"last_scale_in": NOW - 299}, 6),  # cooldown running: hold
        ({"last_scale_in": NOW - 300}, 1),  # cooldown passed: straight to need
        ({"last_scale_in": NOW - 300, "last_scale_out": NOW - 1}, 1),  # only scale-ins count
        # never below the workers still holding pages: hold until they land
        ({"busy_workers": 2}, 6),
        ({"busy_workers": 6}, 6),
        ({"backlog": 400, "busy_workers": 2}, 2),  # need 2 covers the busy ones
        ({"backlog": 400, "busy_workers": 3}, 6),
        # no work and never any: straight to zero
        ({"backlog": 0, "in_flight": 0, "busy_workers": 0, "last_work_seen": -math.inf}, 0),
    ],
)
def test_scale_in(overrides: dict[str, Any], expected: int) -> None:
    values: dict[str, Any] = {
        "backlog": 99,
        "in_flight": 1,
        "running_workers": 6,
        "busy_workers": 1,
        "last_work_seen": NOW,
    }
    values.update(overrides)
    assert desired_workers(observe(**values), CFG) == expected


@pytest.mark.parametrize(
    ("overrides", "cfg", "expected"),
    [
        ({"last_work_seen": NOW - 599}, CFG, 1),  # idle, but not long enough
        ({"last_work_seen": NOW - 600}, CFG, 0),  # idle for idle_before_zero: zero
        ({"last_work_seen": NOW - 5000}, CFG, 0),
        ({"last_work_seen": NOW - 5000, "last_scale_in": NOW - 10}, CFG, 3),  # cooldown
        ({"last_work_seen": NOW - 5000}, replace(CFG, min_workers=2), 2),
        # work in flight is work: the idle clock does not run, whatever last_work_seen says
        ({"in_flight": 1, "busy_workers": 1, "last_work_seen": NOW - 5000}, CFG, 1),
        ({"backlog": 1, "busy_workers": 1, "last_work_seen": NOW - 5000}, CFG, 1),
        ({"last_work_seen": NOW - 5000, "busy_workers": 1}, CFG, 3),  # inconsistent sample
    ],
)
def test_scale_to_zero(overrides: dict[str, Any], cfg: PolicyConfig, expected: int) -> None:
    values: dict[str, Any] = {"running_workers": 3}
    values.update(overrides)
    assert desired_workers(observe(**values), cfg) == expected


@pytest.mark.parametrize(
    ("overrides", "cfg", "expected"),
    [
        ({"running_workers": 14, "last_scale_in": NOW}, CFG, 10),  # max lowered under a fleet
        ({"running_workers": 0, "last_scale_out": NOW}, replace(CFG, min_workers=2), 2),
        ({"running_workers": 1, "last_scale_in": NOW}, replace(CFG, min_workers=2), 2),
    ],
)
def test_bounds_win_over_cooldowns(
    overrides: dict[str, Any], cfg: PolicyConfig, expected: int
) -> None:
    assert desired_workers(observe(**overrides), cfg) == expected


def test_never_below_busy_and_always_within_bounds() -> None:
    """Over a grid of observations: within [min, max], never below the busy workers."""
    cfg = replace(CFG, min_workers=1, max_workers=6)
    grid = itertools.product(
        [0, 1, 239, 241, 700, 5000],  # backlog
        [0, 1, 3],  # in flight
        range(0, 7),  # running
        [NOW, NOW - 100, NOW - 1000],  # last scale out / in / work seen
        [NOW, NOW - 100, NOW - 1000],
        [NOW, NOW - 100, NOW - 1000],
    )
    for backlog, in_flight, running, out, scale_in, seen in grid:
        for busy in range(0, min(running, in_flight) + 1):
            obs = observe(
                backlog=backlog,
                in_flight=in_flight,
                running_workers=running,
                busy_workers=busy,
                last_scale_out=out,
                last_scale_in=scale_in,
                last_work_seen=seen,
            )
            desired = desired_workers(obs, cfg)
            assert cfg.min_workers <= desired <= cfg.max_workers, obs
            assert desired >= busy, obs
            if backlog and not running:
                assert desired >= 1, obs


@pytest.mark.parametrize(
    ("backlog", "running", "expected"),
    [(0, 0, 0.0), (10, 0, 10.0), (10, 1, 10.0), (10, 4, 2.5), (5000, 10, 500.0)],
)
def test_backlog_per_task(backlog: int, running: int, expected: float) -> None:
    assert backlog_per_task(backlog, running) == expected


@pytest.mark.parametrize(
    "overrides",
    [{"backlog": -1}, {"busy_workers": -1}, {"pages_per_worker_second": 0.0}],
)
def test_observation_rejects_nonsense(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        observe(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_workers": -1},
        {"min_workers": 3, "max_workers": 2},
        {"target_backlog_seconds": 0.0},
        {"scale_in_cooldown": -1.0},
    ],
)
def test_config_rejects_nonsense(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PolicyConfig(**overrides)
