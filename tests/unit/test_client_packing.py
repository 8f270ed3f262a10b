"""What a path is (document, archive, folder) and folders packed into a zip."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from quire_client.errors import InputError
from quire_client.packing import (
    BZIP2,
    GZIP,
    RAR,
    SEVEN_Z,
    TAR,
    XZ,
    ZIP,
    ZSTD,
    archive_type,
    classify,
    document_type,
    folder_bytes,
    folder_files,
    pack_folder,
    sniff_archive,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _tar(gzipped: bool) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gzipped else "w") as archive:
        info = tarfile.TarInfo("a/b.png")
        info.size = len(PNG)
        archive.addfile(info, io.BytesIO(PNG))
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a/b.png", PNG)
    return out.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"PK\x03\x04rest", ZIP),
        (b"PK\x05\x06" + b"\x00" * 18, ZIP),  # an empty zip
        (b"\x1f\x8b\x08\x00", GZIP),
        (b"\x00" * 257 + b"ustar\x0000", TAR),
        (b"7z\xbc\xaf\x27\x1c\x00\x04", SEVEN_Z),
        (b"Rar!\x1a\x07\x00", RAR),
        (b"Rar!\x1a\x07\x01\x00", RAR),
        (b"BZh91AY&SY", BZIP2),
        (b"\xfd7zXZ\x00\x00", XZ),
        (b"\x28\xb5\x2f\xfd", ZSTD),
        (b"%PDF-1.7", None),
        (PNG, None),
        (b"", None),
    ],
)
def test_sniff_archive(head: bytes, expected: str | None) -> None:
    assert sniff_archive(head) == expected


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("scans.zip", _zip(), ZIP),
        ("scans.bin", _zip(), ZIP),  # magic bytes, whatever the name
        ("scans.tar", _tar(False), TAR),
        ("scans", _tar(False), TAR),
        ("scans.tgz", _tar(True), GZIP),
        ("scans.tar.gz", _tar(True), GZIP),
        ("page.png", PNG, None),
        ("page.zip", PNG, None),  # a PNG named .zip is still a PNG
        ("notes.pdf", b"%PDF-1.4 ...", None),
        ("old.tar", b"not a ustar header but named so", TAR),  # the name as a fallback
        ("letters.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(40), SEVEN_Z),
        ("letters.rar", b"Rar!\x1a\x07\x00" + bytes(40), RAR),
        ("letters.bin", b"Rar!\x1a\x07\x01\x00" + bytes(40), RAR),
        ("letters.tar.zst", b"not yet written", ZSTD),
    ],
)
def test_archive_type(tmp_path: Path, name: str, data: bytes, expected: str | None) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert archive_type(path) == expected
    assert classify(path) == ("document" if expected is None else "archive")


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.bin", PNG, "image/png"),
        ("a.bin", b"%PDF-1.7", "application/pdf"),
        ("a.bin", b"II*\x00rest", "image/tiff"),
        ("a.bin", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("a.jpg", b"unknown bytes", "image/jpeg"),
        ("a.unknownext", b"unknown bytes", "application/octet-stream"),
    ],
)
def test_document_type(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert document_type(path) == expected


def test_classify_folder_and_missing_path(tmp_path: Path) -> None:
    assert classify(tmp_path) == "folder"
    with pytest.raises(InputError, match="no such file"):
        classify(tmp_path / "missing.png")


def _tree(root: Path) -> None:
    files = {
        "box1/f1/deep/p1.png": PNG,
        "box1/f2/p2.pdf": b"%PDF-1.4 two",
        "box2/p3.tif": b"II*\x00" + bytes(range(256)) * 40,
        "top.png": PNG,
        ".DS_Store": b"hidden",
        "box1/.hidden.png": PNG,
        ".git/objects/x.png": PNG,
        "box2/.cache/y.png": PNG,
        "box2/p3.tif.quire-state.json": b"{}",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


KEPT = ["box1/f1/deep/p1.png", "box1/f2/p2.pdf", "box2/p3.tif", "top.png"]


def test_pack_folder_keeps_the_layout_and_skips_hidden_files(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    _tree(folder)
    seen: list[int] = []
    dest = tmp_path / "scans.zip"
    assert pack_folder(folder, dest, seen.append) == 4
    with zipfile.ZipFile(dest) as archive:
        assert archive.namelist() == KEPT
        assert archive.read("box1/f1/deep/p1.png") == PNG
        assert archive.read("box2/p3.tif") == (folder / "box2/p3.tif").read_bytes()
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    assert kinds["box1/f1/deep/p1.png"] == zipfile.ZIP_STORED  # compressed already
    assert kinds["box2/p3.tif"] == zipfile.ZIP_DEFLATED
    assert sum(seen) == folder_bytes(folder) == sum((folder / name).stat().st_size for name in KEPT)
    assert [name for _, name in folder_files(folder)] == KEPT


def test_pack_folder_is_the_same_bytes_each_time(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    _tree(folder)
    pack_folder(folder, tmp_path / "one.zip")
    pack_folder(folder, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def test_pack_folder_refuses_a_folder_of_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(InputError, match="no files"):
        pack_folder(tmp_path / "empty", tmp_path / "out.zip")


def test_packed_zip_is_recognised_as_an_archive(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    _tree(folder)
    dest = tmp_path / "packed.data"
    pack_folder(folder, dest)
    assert archive_type(dest) == ZIP
    assert gzip.compress(b"x")[:2] == b"\x1f\x8b"  # the gzip magic the sniffer relies on
    assert os.path.getsize(dest) > 0
