"""What a ground-truth scan holds, in figures: the summary ``quire`` prints and logs."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.groundtruth.model import GtScan


def dataset_stats(scan: GtScan) -> dict[str, Any]:
    """Counts of a scan's pages, lines, characters and problems, and its alphabet.

    Args:
        scan: What ``scan_ground_truth`` found.

    Returns:
        ``pages``, ``lines`` and ``characters`` (of the normalised texts, spaces included);
        ``alphabet``, every distinct character of those texts as one sorted string;
        ``problems``, the number of problems by code, codes sorted; JSON-serialisable.
    """
    characters: Counter[str] = Counter()
    for page in scan.pages:
        for line in page.lines:
            characters.update(line.text)
    problems = Counter(problem.code for problem in scan.problems)
    return {
        "pages": len(scan.pages),
        "lines": scan.line_count,
        "characters": sum(characters.values()),
        "alphabet": "".join(sorted(characters)),
        "problems": dict(sorted(problems.items())),
    }
