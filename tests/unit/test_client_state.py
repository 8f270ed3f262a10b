"""The resume state file: where it lives, what it remembers, when it is stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quire_client.state import (
    InputSignature,
    StateFile,
    SubmitState,
    default_state_path,
    input_signature,
)


def test_default_state_path_is_beside_the_input(tmp_path: Path) -> None:
    (tmp_path / "scan.pdf").write_bytes(b"%PDF")
    (tmp_path / "box").mkdir()
    assert default_state_path(tmp_path / "scan.pdf") == tmp_path / "scan.pdf.quire-state.json"
    assert default_state_path(tmp_path / "box") == tmp_path / "box.quire-state.json"
    assert default_state_path(tmp_path / "box" / ".") == tmp_path / "box.quire-state.json"


def test_state_round_trips_and_is_removed(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "s.json")
    assert store.load() is None
    state = SubmitState("/x/scans.zip", "http://q", InputSignature(10, 20), upload_id="u1")
    state.downloaded.append("a.png.txt")
    store.save(state)
    assert store.load() == state
    assert json.loads(store.path.read_text())["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary left
    store.remove()
    assert not store.path.exists()
    store.remove()  # twice is fine


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"version": 99}', '{"version": 1, "server": "x"}']
)
def test_unreadable_state_means_start_over(tmp_path: Path, content: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(content)
    assert StateFile(path).load() is None


def test_signature_of_a_file_follows_size_and_mtime(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"12345")
    first = input_signature(path)
    assert (first.size, first.files) == (5, 1)
    os.utime(path, ns=(first.mtime_ns + 10**9, first.mtime_ns + 10**9))
    assert input_signature(path) != first
    path.write_bytes(b"123456")
    assert input_signature(path).size == 6


def test_signature_of_a_folder_follows_its_listing(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.png").write_bytes(b"1")
    first = input_signature(tmp_path)
    (tmp_path / ".hidden").write_bytes(b"ignored")
    assert input_signature(tmp_path) == first  # hidden files are not sent, not signed
    (tmp_path / "a" / "one.png").rename(tmp_path / "a" / "uno.png")
    renamed = input_signature(tmp_path)
    assert renamed != first and renamed.size == first.size


def test_state_matches_only_the_same_input_and_server(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"abc")
    signature = input_signature(path)
    state = SubmitState(str(path.resolve()), "http://q", signature)
    assert state.matches(path, "http://q", signature)
    assert not state.matches(path, "http://other", signature)
    assert not state.matches(tmp_path / "b.zip", "http://q", signature)
    assert not state.matches(path, "http://q", InputSignature(3, 0))
