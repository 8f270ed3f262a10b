"""The GPU worker scaling policy: a pure function from one observation to a worker count.

The controller around it (ECS service desired count) samples the queue and the workers,
calls :func:`desired_workers` and applies the answer; everything that decides lives here, so
it can be tested table by table and replayed in ``worker.scaling.simulator``.

Rules, in order:

* need = ceil((backlog + in_flight) / (throughput * target_backlog_seconds)), clamped to
  [min_workers, max_workers]: enough workers to drain the work within the target.
* Scale out straight to need once the scale-out cooldown has passed. From zero, one worker is
  always allowed as soon as a page waits, whatever the cooldown.
* Scale in only after the scale-in cooldown, never below the workers still holding pages,
  and to zero only after ``idle_before_zero`` seconds with no work at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicyConfig:
    """Tuning of the scaling policy; times in seconds.

    Attributes:
        min_workers: Floor of the worker count (0 allows scaling to zero).
        max_workers: Ceiling of the worker count (GPU budget).
        target_backlog_seconds: Size the fleet to drain the waiting work within this long.
        scale_out_cooldown: Least time between two scale-outs.
        scale_in_cooldown: Least time between two scale-ins.
        idle_before_zero: Scale to zero only after this long with no work.
    """

    min_workers: int = 0
    max_workers: int = 10
    target_backlog_seconds: float = 120.0
    scale_out_cooldown: float = 60.0
    scale_in_cooldown: float = 300.0
    idle_before_zero: float = 600.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_workers <= self.max_workers:
            raise ValueError("need 0 <= min_workers <= max_workers")
        if self.target_backlog_seconds <= 0:
            raise ValueError("target_backlog_seconds must be positive")
        if min(self.scale_out_cooldown, self.scale_in_cooldown, self.idle_before_zero) < 0:
            raise ValueError("cooldowns and idle_before_zero must not be negative")


@dataclass(frozen=True)
class Observation:
    """One sample of the queue and the fleet; times in seconds on one clock.

    Attributes:
        now: Time of the sample.
        backlog: Pages waiting in the queue (``shared.queue_depth.waiting_messages``).
        in_flight: Pages delivered to a worker and not yet acknowledged.
        running_workers: Workers requested: running or still starting (the service's desired
            count), so that holding steady never cancels a worker on its way up.
        busy_workers: Workers holding at least one page; scale-in never goes below this.
        pages_per_worker_second: Measured throughput of one worker, above 0.
        last_scale_out: Time of the last scale-out (``-inf`` if never).
        last_scale_in: Time of the last scale-in (``-inf`` if never).
        last_work_seen: Last time backlog or in-flight work was above 0 (``-inf`` if never).
    """

    now: float
    backlog: int
    in_flight: int
    running_workers: int
    busy_workers: int
    pages_per_worker_second: float
    last_scale_out: float
    last_scale_in: float
    last_work_seen: float

    def __post_init__(self) -> None:
        if min(self.backlog, self.in_flight, self.running_workers, self.busy_workers) < 0:
            raise ValueError("counts must not be negative")
        if not self.pages_per_worker_second > 0:
            raise ValueError("pages_per_worker_second must be positive")


def backlog_per_task(backlog: int, running_workers: int) -> float:
    """Waiting pages per worker: the custom metric an ECS target-tracking policy would track.

    Args:
        backlog: Pages waiting in the queue.
        running_workers: Workers running; 0 is treated as 1, so the metric stays finite.

    Returns:
        ``backlog / max(running_workers, 1)``.
    """
    return backlog / max(running_workers, 1)


def needed_workers(work: int, pages_per_worker_second: float, target_seconds: float) -> int:
    """Workers that would finish ``work`` pages within ``target_seconds``, unclamped."""
    return math.ceil(work / (pages_per_worker_second * target_seconds))


def desired_workers(obs: Observation, cfg: PolicyConfig) -> int:
    """The worker count to run now.

    Args:
        obs: The current sample of queue and fleet.
        cfg: The policy's tuning.

    Returns:
        The new desired worker count, within ``[cfg.min_workers, cfg.max_workers]``.
    """
    work = obs.backlog + obs.in_flight
    need = _clamp(
        needed_workers(work, obs.pages_per_worker_second, cfg.target_backlog_seconds), cfg
    )
    if need > obs.running_workers:
        return _clamp(_scale_out(obs, cfg, need), cfg)
    if need < obs.running_workers:
        return _clamp(_scale_in(obs, cfg, need), cfg)
    return _clamp(obs.running_workers, cfg)


def _scale_out(obs: Observation, cfg: PolicyConfig, need: int) -> int:
    if obs.now - obs.last_scale_out >= cfg.scale_out_cooldown:
        return need
    if obs.running_workers == 0 and obs.backlog > 0:
        return 1  # scale from zero: a waiting page never waits on a cooldown
    return obs.running_workers


def _scale_in(obs: Observation, cfg: PolicyConfig, need: int) -> int:
    if obs.now - obs.last_scale_in < cfg.scale_in_cooldown:
        return obs.running_workers
    floor = need
    idle_for = 0.0 if obs.backlog + obs.in_flight else obs.now - obs.last_work_seen
    if idle_for < cfg.idle_before_zero:
        floor = max(floor, 1)
    if obs.busy_workers > floor:
        # Workers still hold pages: wait for them to land rather than step to a partial
        # count that the scale-in cooldown would then freeze for minutes.
        return obs.running_workers
    return floor


def _clamp(workers: int, cfg: PolicyConfig) -> int:
    return min(max(workers, cfg.min_workers), cfg.max_workers)
