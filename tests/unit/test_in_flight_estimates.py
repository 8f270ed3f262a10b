"""Per-process estimates of a tenant's work in flight: trusted only far below the limits."""

from __future__ import annotations

from typing import Any

import pytest

from api import tenant_limits
from api.tenant_limits import InFlight, InFlightEstimates, check_tenant_capacity, far_below_limits
from shared.errors import TenantLimitReached
from shared.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def limits(jobs: int, pages: int) -> Settings:
    return Settings(tenant_max_jobs_in_flight=jobs, tenant_max_pages_in_flight=pages)


@pytest.mark.parametrize(
    ("now", "new_jobs", "max_jobs", "max_pages", "trusted"),
    [
        (InFlight(0, 0), 1, 100, 1000, True),
        (InFlight(89, 10), 1, 100, 1000, True),  # 90 of 100 after this one: still trusted
        (InFlight(90, 10), 1, 100, 1000, False),
        (InFlight(10, 899), 1, 100, 1000, True),
        (InFlight(10, 900), 1, 100, 1000, False),  # pages near their limit
        (InFlight(0, 0), 1, 2, 1000, True),
        (InFlight(1, 0), 1, 2, 1000, False),  # the last slot of a tiny limit is counted
        (InFlight(5000, 5000), 50, 0, 0, True),  # no limits at all
        (InFlight(95, 0), 1, 0, 1000, True),  # the jobs limit off
        (InFlight(0, 0), 95, 100, 1000, False),  # a large batch near the limit
    ],
)
def test_far_below_limits(
    now: InFlight, new_jobs: int, max_jobs: int, max_pages: int, trusted: bool
) -> None:
    assert far_below_limits(now, new_jobs, limits(max_jobs, max_pages)) is trusted


def test_an_estimate_lives_ttl_seconds_and_grows_with_what_was_admitted() -> None:
    clock = Clock()
    estimates = InFlightEstimates(ttl=1.0, clock=clock)
    assert estimates.get("t") is None
    estimates.admitted("t", 3)  # nothing counted yet: nothing to add to
    assert estimates.get("t") is None
    estimates.counted("t", InFlight(4, 10))
    estimates.admitted("t", 2)
    assert estimates.get("t") == InFlight(6, 12)
    assert estimates.get("other") is None
    clock.now += 1.0
    assert estimates.get("t") is None


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> list[InFlight]:
    """The database's answers, one per count; each count made is recorded."""
    answers: list[InFlight] = []
    made: list[InFlight] = []

    def fake_in_flight(_engine: Any, _tenant_id: str) -> InFlight:
        made.append(answers.pop(0))
        return made[-1]

    monkeypatch.setattr(tenant_limits, "in_flight", fake_in_flight)
    answers.extend([InFlight(0, 0)] * 10)
    return made


def test_far_from_the_limit_one_count_serves_many_submissions(counts: list[InFlight]) -> None:
    estimates = InFlightEstimates(ttl=60.0, clock=Clock())
    for _ in range(50):
        check_tenant_capacity(None, "t", limits(100, 1000), estimates=estimates)  # type: ignore[arg-type]
    # Counted at 0, then trusted until 89 admitted + 1 > 90: counted again at the 91st.
    assert len(counts) == 1
    for _ in range(41):
        check_tenant_capacity(None, "t", limits(100, 1000), estimates=estimates)  # type: ignore[arg-type]
    assert len(counts) == 2


def test_near_the_limit_every_submission_is_counted_and_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[int] = []

    def full(_engine: Any, _tenant_id: str) -> InFlight:
        made.append(1)
        return InFlight(3, 3)

    monkeypatch.setattr(tenant_limits, "in_flight", full)
    estimates = InFlightEstimates(ttl=60.0, clock=Clock())
    for _ in range(3):
        with pytest.raises(TenantLimitReached):
            check_tenant_capacity(None, "t", limits(3, 1000), estimates=estimates)  # type: ignore[arg-type]
    assert len(made) == 3
