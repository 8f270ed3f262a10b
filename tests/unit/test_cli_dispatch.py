"""Which words the ``quire`` command hands to the client CLI and which it runs itself."""

from __future__ import annotations

import pytest

from cli.main import is_client_command


@pytest.mark.parametrize(
    ("words", "client"),
    [
        (["submit", "a.png"], True),
        (["datasets", "push", "gt/"], True),
        (["trainings", "watch", "t1"], True),
        (["train", "recognizer", "--remote", "--dataset", "d1"], True),
        (["train", "recognizer", "--gt", "gt/", "--out", "run"], False),
        (["models", "list"], True),
        (["models", "promote", "m1"], True),
        (["models", "build", "--size", "tiny"], False),
        (["models"], False),
        (["worker", "--queues", "train"], False),
        ([], False),
    ],
)
def test_dispatch(words: list[str], client: bool) -> None:
    assert is_client_command(words) is client
