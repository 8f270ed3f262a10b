"""The fleet simulator on small traces: exact figures where the arithmetic is simple."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from worker.scaling import simulator
from worker.scaling.policy import Observation, PolicyConfig
from worker.scaling.simulator import SimResult, simulate

CFG = PolicyConfig()  # min 0, max 10, target 120 s, out 60 s, in 300 s, zero after 600 s


def run(
    arrivals: list[tuple[float, int]],
    *,
    rate: float = 2.0,
    delay: float = 10.0,
    horizon: float = 2000.0,
    cfg: PolicyConfig = CFG,
    tick: float = 1.0,
) -> SimResult:
    return simulate(
        arrivals, cfg, per_worker_rate=rate, start_delay=delay, tick=tick, horizon=horizon
    )


@pytest.mark.parametrize(
    ("arrivals", "rate", "delay", "drain", "ideal", "worker_seconds", "peak"),
    [
        # one page: requested at 0, up at 10, done at 11; idle from 11, zero at 10 + 600
        ([(0.0, 1)], 1.0, 10.0, 11.0, 10.1, 610.0, 1),
        # the drain clock starts at the first arrival; the worker is billed from 5 to 615
        ([(5.0, 1)], 1.0, 10.0, 11.0, 10.1, 610.0, 1),
        # 10 pages need one worker (240 pages per worker-target): 5 s of work after start-up
        ([(0.0, 10)], 2.0, 10.0, 15.0, 10.5, 614.0, 1),
        # 480 pages: two workers, 120 s of work each; one kept idle from 130 to 129 + 600
        ([(0.0, 480)], 2.0, 10.0, 130.0, 34.0, 2 * 130 + 599.0, 2),
        # the benchmark burst: 10 workers at once, drained as fast as 10 workers can
        ([(0.0, 5000)], 2.0, 90.0, 340.0, 340.0, 10 * 340 + 599.0, 10),
        # no work: nothing starts
        ([], 2.0, 10.0, 0.0, 10.0, 0.0, 0),
    ],
)
def test_small_traces(
    arrivals: list[tuple[float, int]],
    rate: float,
    delay: float,
    drain: float,
    ideal: float,
    worker_seconds: float,
    peak: int,
) -> None:
    result = run(arrivals, rate=rate, delay=delay)

    assert result.drain_time == pytest.approx(drain)
    assert result.ideal_drain_time == pytest.approx(ideal)
    assert result.worker_seconds == pytest.approx(worker_seconds)
    assert result.peak_workers == peak
    assert result.busy_killed == 0
    assert result.pages_done == result.pages == sum(n for _, n in arrivals)


def test_warm_pool_starts_without_cold_start() -> None:
    result = run([(0.0, 4)], rate=1.0, delay=100.0, cfg=PolicyConfig(min_workers=2))

    assert result.drain_time == pytest.approx(2.0)  # two warm workers, two pages each
    assert result.worker_seconds == pytest.approx(2 * 2000.0)  # the floor never scales in
    assert result.peak_workers == 2


def test_scale_out_cooldown_delays_the_second_step() -> None:
    # One page at 0 starts one worker; 2400 more at 10 need 10, granted at 60 (cooldown).
    result = run([(0.0, 1), (10.0, 2400)], rate=2.0, delay=10.0)

    assert result.peak_workers == 10
    # one worker from 10 s to 70 s (120 pages), then 10 workers: 70 + 2281 / 20 = 184.05
    assert result.drain_time == pytest.approx(184.05, abs=0.5)


def test_unfinished_work_at_the_horizon_has_no_drain_time() -> None:
    result = run([(0.0, 5000)], rate=2.0, delay=90.0, horizon=200.0)

    assert result.drain_time == math.inf
    assert result.pages_done == 110 * 20  # ten workers from 90 s to 200 s
    assert result.drain_ratio == math.inf


def test_drain_ratio() -> None:
    result = run([(0.0, 480)], rate=2.0, delay=10.0)

    assert result.drain_ratio == pytest.approx(130.0 / 34.0)


def scripted(plan: list[tuple[float, int]]) -> Callable[[Observation, PolicyConfig], int]:
    """A stand-in policy: the count of the last ``(from_time, workers)`` step reached."""

    def desired(obs: Observation, cfg: PolicyConfig) -> int:
        return [count for start, count in plan if obs.now >= start][-1]

    return desired


@pytest.mark.parametrize(
    ("plan", "busy_killed", "drain"),
    [
        # 3 workers up at 10, one page done at 11, then scaled to 1: no one holds a page
        ([(0.0, 3), (11.0, 1), (30.0, 0)], 0, 11.0),
        # scale to 1 at 10 while one of three holds the page: an idle one goes first
        ([(0.0, 3), (10.0, 1), (30.0, 0)], 0, 11.0),
        # scale to 0 at 10 with the page in hand: killed, redelivered to the worker of 20
        ([(0.0, 1), (10.0, 0), (20.0, 1)], 1, 31.0),
    ],
)
def test_scale_in_removes_idle_workers_first(
    monkeypatch: pytest.MonkeyPatch,
    plan: list[tuple[float, int]],
    busy_killed: int,
    drain: float,
) -> None:
    monkeypatch.setattr(simulator, "desired_workers", scripted(plan))

    result = run([(0.0, 1)], rate=1.0, delay=10.0, horizon=100.0)

    assert result.busy_killed == busy_killed
    assert result.drain_time == pytest.approx(drain)
    assert result.pages_done == 1


def test_starting_workers_are_removed_before_running_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One worker up at 10 holding pages; five more requested at 20 and cancelled at 25
    plan = [(0.0, 1), (20.0, 6), (25.0, 1)]
    monkeypatch.setattr(simulator, "desired_workers", scripted(plan))

    result = run([(0.0, 100)], rate=1.0, delay=10.0, horizon=200.0)

    assert result.busy_killed == 0
    assert result.drain_time == pytest.approx(110.0)  # the running worker was kept
    assert result.worker_seconds == pytest.approx(200.0 + 5 * 5.0)


@pytest.mark.parametrize(
    "arrivals",
    [
        [(0.0, 5000)],
        [(0.0, 300), (400.0, 3000), (401.0, 7)],
        [(float(t), 1) for t in range(0, 1200, 3)] + [(500.0, 2000)],
        [(30.0, 1), (31.0, 1), (900.0, 1500)],
    ],
)
@pytest.mark.parametrize(("rate", "delay"), [(2.0, 90.0), (0.7, 30.0), (5.0, 0.0)])
def test_policy_never_kills_busy_workers_and_drains(
    arrivals: list[tuple[float, int]], rate: float, delay: float
) -> None:
    result = run(arrivals, rate=rate, delay=delay, horizon=20_000.0)

    assert result.busy_killed == 0
    assert result.pages_done == result.pages
    assert result.drain_time >= result.ideal_drain_time - 1e-6  # nothing beats max workers
    assert result.peak_workers <= CFG.max_workers


def test_ticks_that_do_not_divide_the_times_still_drain_close_to_ideal() -> None:
    result = run([(0.0, 5000)], rate=2.0, delay=90.3, tick=0.7)

    assert result.busy_killed == 0
    assert result.drain_time == pytest.approx(340.3, abs=0.7)


@pytest.mark.parametrize(
    ("rate", "tick", "delay"), [(0.0, 1.0, 1.0), (1.0, 0.0, 1.0), (1.0, 1.0, -1.0)]
)
def test_rejects_nonsense(rate: float, tick: float, delay: float) -> None:
    with pytest.raises(ValueError):
        simulate([(0.0, 1)], CFG, per_worker_rate=rate, start_delay=delay, tick=tick, horizon=10)
