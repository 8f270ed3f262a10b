"""The training service's pure parts: unpacking a dataset archive safely, and the one retry
at half the batch after running out of memory."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from training.service import runner
from training.service.dataset_archive import ArchiveCaps, DatasetArchiveError, unpack

CAPS = ArchiveCaps(max_members=100, max_member_bytes=1000, max_total_bytes=1500)


def archive(tmp_path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "gt.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return path


def test_only_ground_truth_and_images_are_written_safely(tmp_path: Path) -> None:
    path = archive(
        tmp_path,
        {
            "a/page.xml": b"<x/>",
            "a/page.png": b"png",
            "readme.txt": b"skipped quietly",
            "/abs.xml": b"x",
            "A/PAGE.XML": b"dup",
        },
        links=("link.xml",),
    )
    out = tmp_path / "out"
    result = unpack(path, out, CAPS)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a/page.png",
        "a/page.xml",
    ]
    codes = {(p["file"], p["code"]) for p in result.problems}
    assert codes == {
        ("/abs.xml", "unsafe_path"),
        ("A/PAGE.XML", "duplicate_name"),
        ("link.xml", "not_a_regular_file"),
    }


def test_sizes_are_capped_per_member_and_in_total(tmp_path: Path) -> None:
    path = archive(tmp_path, {"big.png": b"x" * 1001, "a.png": b"x" * 900, "b.png": b"x" * 900})
    result = unpack(path, tmp_path / "out", CAPS)
    assert [(p["file"], p["code"]) for p in result.problems] == [
        ("big.png", "member_too_large"),
        ("b.png", "archive_too_large"),
    ]
    assert result.files == 1 and not (tmp_path / "out" / "b.png").exists()


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"not an archive at all" * 30)
    with pytest.raises(DatasetArchiveError):
        unpack(path, tmp_path / "out", CAPS)


def spec(**options: Any) -> runner.Spec:
    return runner.Spec(
        id="t",
        tenant_id="x",
        kind="recognizer",
        family="crnn",
        name="n",
        dataset_key="k",
        validation_key=None,
        dataset_sha256=None,
        validation_fraction=0.1,
        seed=0,
        base_model=None,
        max_epochs=1,
        max_minutes=None,
        minutes_spent=0.0,
        options=options,
        checkpoint_key="c",
    )


def test_out_of_memory_retries_once_at_half_the_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[int] = []

    def train(_ctx: Any, run: runner.Spec, _work: Path, _beat: Any) -> runner.Outcome:
        seen.append(int(run.options["batch_size"]))
        if len(seen) == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return runner.Outcome("epochs", [], None)

    monkeypatch.setattr(runner, "_train", train)
    (tmp_path / "leftover").mkdir()
    outcome = runner._train_with_oom_retry(None, spec(batch_size=16), tmp_path, None)  # type: ignore[arg-type]
    assert seen == [16, 8] and outcome.options["batch_size"] == 8
    assert outcome.options["oom_retried"] is True and not (tmp_path / "leftover").exists()


def test_out_of_memory_twice_fails_the_training(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def train(*_args: Any) -> runner.Outcome:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(runner, "_train", train)
    with pytest.raises(runner.TrainingFailed) as failed:
        runner._train_with_oom_retry(None, spec(batch_size=4), tmp_path, None)  # type: ignore[arg-type]
    assert failed.value.code == "out_of_memory"
    other = replace(spec(batch_size=4))
    monkeypatch.setattr(runner, "_train", lambda *_a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):  # other errors are not memory: no retry
        runner._train_with_oom_retry(None, other, tmp_path, None)  # type: ignore[arg-type]
