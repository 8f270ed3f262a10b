"""The README and .env.example describe every setting the code has."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
VARIABLES = [f"QUIRE_{name.upper()}" for name in Settings.model_fields]


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (REPO / document).read_text()
    missing = [v for v in VARIABLES if v not in text]
    assert missing == []


def test_env_example_names_only_real_settings() -> None:
    names = [
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line.startswith("QUIRE_")
    ]
    assert sorted(names) == sorted(VARIABLES)
