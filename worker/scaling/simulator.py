"""A deterministic discrete-time simulator of the GPU fleet under the scaling policy.

Model, per tick of ``tick`` seconds starting at t = 0:

1. Bursts whose time is at or before t join the backlog (arrivals are seen on the tick).
2. The policy is evaluated on an :class:`~worker.scaling.policy.Observation` taken at t and
   its answer applied: new workers come up ``start_delay`` seconds after being requested
   (cold start); removed workers are taken idle first (starting ones, then running ones,
   newest first), and a removed worker holding a page hands it back to the backlog and
   counts in ``busy_killed``.
3. Every worker that is up processes pages one at a time (Celery prefetch 1) at
   ``per_worker_rate`` pages/s in continuous time, taking the next page the moment it
   finishes one (events in time order), so a worker is busy whenever the backlog is not
   empty.

``worker_seconds`` counts every requested worker from request to removal, start-up
included: a booting GPU instance is billed. The fleet starts with ``min_workers`` warm.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from worker.scaling.policy import Observation, PolicyConfig, desired_workers

EPS = 1e-9


@dataclass(frozen=True)
class SimResult:
    """Outcome of one simulated trace; times in seconds.

    Attributes:
        drain_time: From the first arrival until the last page finished (``inf`` if pages
            were still waiting or in flight at the horizon).
        ideal_drain_time: ``start_delay + total_pages / (max_workers * per_worker_rate)``.
        worker_seconds: Sum over workers of the time they were requested, start-up included.
        busy_killed: Workers removed while holding a page (the policy should keep this 0).
        peak_workers: Most workers requested at once.
        pages: Pages that arrived.
        pages_done: Pages finished by the horizon.
    """

    drain_time: float
    ideal_drain_time: float
    worker_seconds: float
    busy_killed: int
    peak_workers: int
    pages: int
    pages_done: int

    @property
    def drain_ratio(self) -> float:
        """``drain_time / ideal_drain_time`` (1.0 is as fast as max_workers could go)."""
        return self.drain_time / self.ideal_drain_time if self.ideal_drain_time else math.inf


@dataclass
class _Worker:
    ready_at: float
    page_left: float = 0.0  # seconds of work left on the page in hand
    holding: bool = False


@dataclass
class _Fleet:
    rate: float
    start_delay: float
    backlog: int = 0
    workers: list[_Worker] = field(default_factory=list)
    pages_done: int = 0
    last_finish: float = -math.inf
    busy_killed: int = 0
    worker_seconds: float = 0.0
    peak: int = 0

    def busy(self) -> int:
        return sum(w.holding for w in self.workers)

    def take(self, worker: _Worker) -> bool:
        """Give ``worker`` the next waiting page; False if the backlog is empty."""
        if self.backlog == 0:
            return False
        self.backlog -= 1
        worker.holding, worker.page_left = True, 1.0 / self.rate
        return True


def simulate(
    arrivals: list[tuple[float, int]],
    cfg: PolicyConfig,
    *,
    per_worker_rate: float,
    start_delay: float,
    tick: float = 1.0,
    horizon: float,
) -> SimResult:
    """Run ``arrivals`` (``(time, pages)`` bursts) through the policy until ``horizon``.

    Args:
        arrivals: Bursts of pages, each at a time >= 0; any order.
        cfg: The policy's tuning.
        per_worker_rate: Pages per second one running worker finishes.
        start_delay: Seconds from requesting a worker until it takes pages (cold start).
        tick: Seconds between two policy evaluations.
        horizon: Seconds simulated.

    Returns:
        The drain time, cost and safety figures of the run.
    """
    if per_worker_rate <= 0 or tick <= 0 or start_delay < 0:
        raise ValueError("per_worker_rate and tick must be positive, start_delay not negative")
    pending = sorted(arrivals)
    fleet = _Fleet(per_worker_rate, start_delay)
    fleet.workers = [_Worker(ready_at=0.0) for _ in range(cfg.min_workers)]
    clock = {"out": -math.inf, "in": -math.inf, "work": -math.inf}
    for step in range(math.ceil(horizon / tick - EPS)):
        now = step * tick
        while pending and pending[0][0] <= now + EPS:
            fleet.backlog += pending.pop(0)[1]
        _control(fleet, cfg, now, clock)
        fleet.peak = max(fleet.peak, len(fleet.workers))
        fleet.worker_seconds += len(fleet.workers) * tick
        _run(fleet, now, now + tick)
    return _result(arrivals, cfg, fleet, pending_left=bool(pending))


def _control(fleet: _Fleet, cfg: PolicyConfig, now: float, clock: dict[str, float]) -> None:
    """Observe at ``now``, ask the policy, and resize the fleet."""
    busy = fleet.busy()
    if fleet.backlog + busy:
        clock["work"] = now
    obs = Observation(
        now=now,
        backlog=fleet.backlog,
        in_flight=busy,  # one page per busy worker
        running_workers=len(fleet.workers),
        busy_workers=busy,
        pages_per_worker_second=fleet.rate,
        last_scale_out=clock["out"],
        last_scale_in=clock["in"],
        last_work_seen=clock["work"],
    )
    desired = desired_workers(obs, cfg)
    if desired > len(fleet.workers):
        fleet.workers += [
            _Worker(now + fleet.start_delay) for _ in range(desired - len(fleet.workers))
        ]
        clock["out"] = now
    elif desired < len(fleet.workers):
        _remove(fleet, len(fleet.workers) - desired, now)
        clock["in"] = now


def _remove(fleet: _Fleet, count: int, now: float) -> None:
    """Remove ``count`` workers: idle starting ones, idle running ones, then busy ones."""

    def cost(index: int) -> tuple[bool, bool, int]:
        worker = fleet.workers[index]
        return worker.holding, worker.ready_at <= now, -index  # newest first within a rank

    doomed = set(sorted(range(len(fleet.workers)), key=cost)[:count])
    for index in doomed:
        if fleet.workers[index].holding:
            fleet.busy_killed += 1
            fleet.backlog += 1  # the unacked page is redelivered
    fleet.workers = [w for i, w in enumerate(fleet.workers) if i not in doomed]


def _run(fleet: _Fleet, start: float, end: float) -> None:
    """Let every worker that is up process pages over ``[start, end]``, in time order.

    Events are ``(time, worker index)``: the worker is free at that time (it came up, or the
    page it held is done). Ties go to the lower index. A worker free at exactly ``end`` takes
    its next page then, so the observation at ``end`` sees it busy, as Celery would.
    """
    events: list[tuple[float, int]] = []
    for index, worker in enumerate(fleet.workers):
        ready = max(start, worker.ready_at)
        if ready <= end + EPS:
            events.append((ready + (worker.page_left if worker.holding else 0.0), index))
    heapq.heapify(events)
    while events:
        time, index = heapq.heappop(events)
        worker = fleet.workers[index]
        if time > end + EPS:
            worker.page_left = time - end  # still on this page at the next tick
            continue
        if worker.holding:
            worker.holding = False
            fleet.pages_done += 1
            fleet.last_finish = time
        if fleet.take(worker):
            heapq.heappush(events, (time + worker.page_left, index))


def _result(
    arrivals: list[tuple[float, int]], cfg: PolicyConfig, fleet: _Fleet, *, pending_left: bool
) -> SimResult:
    pages = sum(count for _, count in arrivals)
    first = min((time for time, count in arrivals if count), default=0.0)
    if pending_left or fleet.pages_done < pages:
        drain = math.inf
    else:
        drain = max(fleet.last_finish - first, 0.0)  # 0.0 when there were no pages
    capacity = cfg.max_workers * fleet.rate
    return SimResult(
        drain_time=drain,
        ideal_drain_time=fleet.start_delay + (pages / capacity if capacity else math.inf),
        worker_seconds=fleet.worker_seconds,
        busy_killed=fleet.busy_killed,
        peak_workers=fleet.peak,
        pages=pages,
        pages_done=fleet.pages_done,
    )
