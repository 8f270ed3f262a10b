"""When the client draws progress bars."""

from __future__ import annotations

import io

import pytest

from quire_client.progress import bars_enabled


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("quiet", "terminal", "forced", "expected"),
    [
        (False, True, False, True),
        (False, False, False, False),
        (False, False, True, True),
        (True, True, False, False),
        (True, False, True, False),
    ],
)
def test_bars_follow_quiet_progress_and_terminal(
    quiet: bool, terminal: bool, forced: bool, expected: bool
) -> None:
    stream = Terminal() if terminal else io.StringIO()
    assert bars_enabled(quiet, stream, forced=forced) is expected
