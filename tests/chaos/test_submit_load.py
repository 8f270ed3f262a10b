"""Chaos 6: concurrent clients submitting through the real API while the workers run, side by
side with a no-op FastAPI upload endpoint. Zero errors; the figures (and the ratio of
submits/s, a benchmark target of 0.4 or more) are printed here and recorded in BENCHMARKS.md
from the full-size run (``make chaos`` or ``python -m bench.submit_load``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.submit_load import compare, report
from tests.chaos.conftest import CHAOS_TIMEOUT, FULL

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CHAOS_TIMEOUT)]


def test_concurrent_submits_are_all_accepted(chaos_env: dict[str, str], tmp_path: Path) -> None:
    clients, seconds = (16, 60.0) if FULL else (16, 5.0)
    noop, ours = compare(chaos_env, tmp_path, clients, seconds)
    print("\n" + report(noop, ours, clients, 1))
    assert ours.ok > 0 and noop.ok > 0
    assert ours.errors == {} and noop.errors == {}, report(noop, ours, clients, 1)
