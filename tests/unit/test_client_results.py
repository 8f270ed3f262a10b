"""Results on disk: safe unpacking of exports, idempotent saves, job result file names."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from quire_client.api import QuireApi
from quire_client.errors import UnsafeArchive
from quire_client.models import Job
from quire_client.progress import Progress
from quire_client.results import (
    download_batch,
    download_job,
    extract_zip,
    job_result_files,
    member_path,
    result_stem,
    save_stream,
)
from tests.unit.test_client_fakeserver import API_KEY, FakeQuire


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("a.txt", ("a.txt",)),
        ("box1/f2/p3.pdf.alto.xml", ("box1", "f2", "p3.pdf.alto.xml")),
        ("box1\\win\\p.txt", ("box1", "win", "p.txt")),
        ("dir/", ("dir",)),
        ("a/./b.txt", ("a", "b.txt")),
        ("..a/b..txt", ("..a", "b..txt")),  # dots inside names are fine
    ],
)
def test_member_path_accepts_relative_names(name: str, parts: tuple[str, ...]) -> None:
    assert member_path(name).parts == parts


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "../escape.txt",
        "a/../../escape.txt",
        "a\\..\\..\\x",
        "C:/x.txt",
        "\\\\host\\x",
        "",
    ],
)
def test_member_path_refuses_escapes(name: str) -> None:
    with pytest.raises(UnsafeArchive):
        member_path(name)


def _zip(tmp_path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def test_extract_refuses_a_zip_slip_member_and_writes_nothing(tmp_path: Path) -> None:
    archive = _zip(tmp_path, {"ok/a.txt": b"fine", "../../evil.txt": b"pwned"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsafeArchive, match="evil"):
        extract_zip(archive, out)
    assert list(out.iterdir()) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_extract_refuses_symbolic_links(tmp_path: Path) -> None:
    archive = _zip(tmp_path, {"a.txt": b"x"}, links=("link",))
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        extract_zip(archive, tmp_path / "out")


def test_extract_keeps_folders_and_is_idempotent(tmp_path: Path) -> None:
    members = {"box1/f2/p3.pdf.txt": b"three", "top.png.txt": b"top", "manifest.json": b"{}"}
    archive = _zip(tmp_path, members)
    out = tmp_path / "out"
    first = extract_zip(archive, out)
    assert (first.written, first.unchanged) == (3, 0)
    assert (out / "box1" / "f2" / "p3.pdf.txt").read_bytes() == b"three"
    (out / "top.png.txt").write_bytes(b"edited")
    second = extract_zip(archive, out)
    assert (second.written, second.unchanged) == (1, 2)
    assert (out / "top.png.txt").read_bytes() == b"top"
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == []


def test_save_stream_skips_identical_and_replaces_different(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "r.txt"
    assert save_stream([b"ab", b"c"], dest) is True
    mtime = dest.stat().st_mtime_ns
    assert save_stream([b"a", b"bc"], dest) is False
    assert dest.stat().st_mtime_ns == mtime
    assert save_stream([b"abcd"], dest) is True
    assert dest.read_bytes() == b"abcd"
    assert save_stream([b"ab"], dest) is True  # a prefix is not the same content
    assert dest.read_bytes() == b"ab"
    assert [p.name for p in dest.parent.iterdir()] == ["r.txt"]


def _job(**changes: object) -> Job:
    body: dict[str, object] = {"id": "j9", "status": "succeeded", "filename": "scan.pdf"}
    body.update(pages_total=2, pages_done=2, pages_failed=0, error=None)
    return Job.from_json({**body, **changes})


@pytest.mark.parametrize(
    ("filename", "stem"),
    [("scan.pdf", "scan.pdf"), ("a/b/c.png", "c.png"), ("..", "j9"), (None, "j9"), ("", "j9")],
)
def test_result_stem(filename: str | None, stem: str) -> None:
    assert result_stem(_job(filename=filename)) == stem


def test_job_result_files_split_page_xml_by_page() -> None:
    assert job_result_files(_job(), ["txt", "pagexml"]) == [
        ("scan.pdf.txt", "txt", None),
        ("scan.pdf.p0001.page.xml", "pagexml", 0),
        ("scan.pdf.p0002.page.xml", "pagexml", 1),
    ]
    assert job_result_files(_job(pages_total=1), ["pagexml"]) == [
        ("scan.pdf.page.xml", "pagexml", None)
    ]


def test_download_job_writes_one_file_per_format(tmp_path: Path) -> None:
    fake = FakeQuire()
    job_id = fake._new_job("scan.pdf", None, {})
    saved: list[str] = []
    with QuireApi(fake.base_url, API_KEY, transport=fake.transport()) as api:
        job = api.get_job(job_id)
        report = download_job(api, job, ["txt", "alto", "pagexml"], tmp_path, on_saved=saved.append)
        again = download_job(api, job, ["txt"], tmp_path, skip=["scan.pdf.txt"])
    assert (report.written, again.unchanged, again.written) == (4, 1, 0)
    assert saved == [
        "scan.pdf.txt",
        "scan.pdf.alto.xml",
        "scan.pdf.p0001.page.xml",
        "scan.pdf.p0002.page.xml",
    ]
    assert (tmp_path / "scan.pdf.alto.xml").read_text() == "alto of scan.pdf page 0"
    assert (tmp_path / "scan.pdf.p0002.page.xml").read_text() == "pagexml of scan.pdf page 1"
    assert fake.calls("GET", f"/v1/jobs/{job_id}/result").count(f"/v1/jobs/{job_id}/result") == 4


def test_download_batch_unpacks_the_export(tmp_path: Path) -> None:
    fake = FakeQuire()
    fake.batches["b1"] = {"id": "b1", "status": "succeeded", "items": [{"path": "x/y/z.png"}]}
    with QuireApi(fake.base_url, API_KEY, transport=fake.transport()) as api:
        report = download_batch(api, "b1", ["txt", "hocr"], tmp_path / "out", Progress(False))
    assert (report.written, report.unchanged) == (3, 0)
    assert (tmp_path / "out/x/y/z.png.hocr.html").read_text() == "hocr of x/y/z.png"
    assert (tmp_path / "out/manifest.json").is_file()
