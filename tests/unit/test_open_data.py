"""The open ground-truth list never trains on the sets kept for independent evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.open_data import RESERVED, SETS, OpenSet, materialize


def test_no_training_or_dev_source_is_a_reserved_set() -> None:
    assert not {s.repo for s in SETS} & RESERVED
    assert all(s.licence.startswith("CC-BY") for s in SETS)


@pytest.mark.parametrize("repo", sorted(RESERVED))
def test_fetching_a_reserved_set_is_refused(repo: str, tmp_path: Path) -> None:
    entry = OpenSet(repo, "CC-BY-4.0", "eng", "", "train", "")
    with pytest.raises(ValueError, match="reserved"):
        materialize(entry, tmp_path, mirror=tmp_path)
    assert not any(tmp_path.iterdir())
