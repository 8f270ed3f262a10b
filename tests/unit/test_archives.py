"""Archive reading: every skip rule, lying headers, resume, Unicode names, bounded memory."""

from __future__ import annotations

import gzip
import io
import random
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from shared.errors import CorruptArchive, QuireError
from shared.media import JPEG, PDF, PNG, TIFF
from shared.settings import Settings
from shared.storage.range_reader import RangeReader
from tests.hostile_inputs import (
    T,
    encrypted_member,
    make_tar,
    make_zip,
    patch_zip,
    zip_record_offset,
)
from worker.archives import (
    ArchiveLimits,
    Member,
    MemberLimitExceeded,
    MemberReader,
    SkipCode,
    Skipped,
    detect_archive,
    iter_entries,
    normalize_path,
)

MIB = 1024 * 1024
LIMITS = ArchiveLimits(
    max_members=1000, max_member_bytes=100 * MIB, max_total_bytes=1024 * MIB, max_ratio=200.0
)
_rng = random.Random(42)


def noise(size: int) -> bytes:
    return _rng.randbytes(size)


PNG_BYTES = b"\x89PNG\r\n\x1a\n" + noise(300)
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise(3000)
PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + noise(2000)
TIFF_BYTES = b"II*\x00\x08\x00\x00\x00" + noise(700)


def read(
    data: bytes, kind: str, limits: ArchiveLimits = LIMITS, start_seq: int = 0
) -> list[tuple[int, str, str, bytes | str]]:
    """(seq, path, "ok" or the skip code, the member's bytes or the reason) per entry."""
    rows: list[tuple[int, str, str, bytes | str]] = []
    for entry in iter_entries(io.BytesIO(data), kind, limits, start_seq):
        if isinstance(entry, Member):
            try:  # the ingest stores the stream and records a refusal found while reading
                rows.append((entry.seq, entry.path, "ok", entry.stream.read()))
            except MemberLimitExceeded as e:
                rows.append((entry.seq, entry.path, e.code, e.reason))
        else:
            rows.append((entry.seq, entry.path, entry.code, entry.reason))
    return rows


def codes(data: bytes, kind: str, limits: ArchiveLimits = LIMITS) -> list[tuple[str, str]]:
    return [(path, code) for _, path, code, _ in read(data, kind, limits)]


def both(entries: list[tuple[str, bytes]]) -> list[tuple[bytes, str]]:
    """The same members as a zip, a tar and a tar.gz."""
    return [
        (make_zip(entries), "zip"),
        (make_tar(entries, False), "tar"),
        (make_tar(entries), "tar.gz"),
    ]


# --- detection and paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (make_zip([("a.png", PNG_BYTES)])[:512], "zip"),
        (make_zip([])[:512], "zip"),  # an empty zip is its end record alone
        (make_tar([("a.png", PNG_BYTES)], gz=False)[:512], "tar"),
        (make_tar([("a.png", PNG_BYTES)])[:512], "tar.gz"),
        (PNG_BYTES[:512], None),
        (PDF_BYTES[:512], None),
        (b"", None),
    ],
)
def test_detect_archive(head: bytes, kind: str | None) -> None:
    assert detect_archive(head) == kind


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("scan.png", "scan.png"),
        ("./box1/scan.png", "box1/scan.png"),
        ("././box1//f2/./p3.pdf", "box1/f2/p3.pdf"),
        ("box1\\f2\\p3.pdf", "box1/f2/p3.pdf"),
        ("a/b/c/d.png", "a/b/c/d.png"),
        ("Cafe\u0301/e\u0301te\u0301.png", "Caf\u00e9/\u00e9t\u00e9.png"),  # NFD to NFC
        ("📄 scans/😀.png", "📄 scans/😀.png"),
        ("מסמך/סריקה 1.png", "מסמך/סריקה 1.png"),
        ("page:1.png", "page:1.png"),  # a colon is only refused after a leading drive letter
        ("x" * 1024, "x" * 1024),
    ],
)
def test_normalize_path(name: str, path: str) -> None:
    assert normalize_path(name) == path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.png", "'..'"),
        ("/etc/x.png", "absolute"),
        ("a/../../x.png", "'..'"),
        ("a/..", "'..'"),
        ("C:\\x.png", "drive letter"),
        ("c:x.png", "drive letter"),
        ("\\\\server\\share\\x.png", "absolute"),
        ("a\x00b.png", "NUL"),
        ("", "empty"),
        ("./", "empty"),
        ("x" * 1025, "longer than 1024"),
    ],
)
def test_normalize_path_refuses_unsafe_names(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalize_path(name)


@pytest.mark.parametrize("name", ["../x.png", "/etc/x.png", "a/../../x.png", "C:\\x.png"])
@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_zip_slip_names_are_skipped(name: str, kind: str) -> None:
    entries = [(name, PNG_BYTES), ("ok.png", PNG_BYTES)]
    data = make_zip(entries) if kind == "zip" else make_tar(entries, gz=kind == "tar.gz")
    rows = read(data, kind)
    assert [(seq, code) for seq, _, code, _ in rows] == [(0, SkipCode.UNSAFE_PATH), (1, "ok")]
    assert rows[1][1:] == ("ok.png", "ok", PNG_BYTES)


def test_nul_byte_in_a_zip_name_ends_the_name() -> None:
    data = make_zip([("aXb.png", PNG_BYTES)])
    data = data.replace(b"aXb.png", b"a\x00b.png")  # local header and central record alike
    # libarchive reads names as C strings, as bsdtar and unzip do: the name is "a".
    assert read(data, "zip") == [(0, "a", "ok", PNG_BYTES)]


def test_nul_byte_in_a_name_is_unsafe() -> None:
    assert normalize_path("a.png") == "a.png"
    with pytest.raises(ValueError, match="NUL"):
        normalize_path("a\x00b.png")


# --- skip rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "what"),
    [
        (T("link.png", type=tarfile.SYMTYPE, linkname="a.png"), "symbolic link"),
        (T("hard.png", type=tarfile.LNKTYPE, linkname="a.png"), "hard link"),
        (T("tty", type=tarfile.CHRTYPE), "character device"),
        (T("sda", type=tarfile.BLKTYPE), "block device"),
        (T("pipe", type=tarfile.FIFOTYPE), "FIFO"),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_tar_special_members_are_not_regular_files(entry: T, what: str, gz: bool) -> None:
    data = make_tar([("a.png", PNG_BYTES), entry, ("b.png", PNG_BYTES)], gz)
    rows = read(data, "tar.gz" if gz else "tar")
    assert [code for _, _, code, _ in rows] == ["ok", SkipCode.NOT_A_REGULAR_FILE, "ok"]
    assert what in str(rows[1][3])


def test_tar_directories_are_not_entries() -> None:
    data = make_tar(
        [T("./", type=tarfile.DIRTYPE), T("d", type=tarfile.DIRTYPE), ("d/a.png", PNG_BYTES)]
    )
    assert read(data, "tar.gz") == [(0, "d/a.png", "ok", PNG_BYTES)]


def test_zip_symlink_and_directories() -> None:
    link = zipfile.ZipInfo("link.png")
    link.create_system = 3
    link.external_attr = (0o120777) << 16  # S_IFLNK
    data = make_zip([("d/", b""), ("d/a.png", PNG_BYTES), (link, b"d/a.png"), ("e\\", b"")])
    rows = read(data, "zip")
    assert [(seq, path, code) for seq, path, code, _ in rows] == [
        (0, "d/a.png", "ok"),
        (1, "link.png", SkipCode.NOT_A_REGULAR_FILE),
    ]


def test_zip_encrypted_member_is_skipped() -> None:
    data = make_zip([("secret.png", PNG_BYTES), ("open.png", PNG_BYTES)])
    data = encrypted_member(data, "secret.png")
    assert codes(data, "zip") == [
        ("secret.png", SkipCode.ENCRYPTED_MEMBER),
        ("open.png", "ok"),
    ]


def test_zip_unsupported_compression_method_is_skipped() -> None:
    data = make_zip([("d64.png", PNG_BYTES)])
    data = patch_zip(data, "d64.png", central={10: ("<H", 9)}, local={8: ("<H", 9)})
    ((_, _, code, reason),) = read(data, "zip")
    assert code == SkipCode.UNSUPPORTED_TYPE
    assert "compression method (9" in str(reason)


@pytest.mark.parametrize(
    ("data", "kind"),
    both(
        [
            ("a.png", PNG_BYTES),
            ("x/b.pdf", PDF_BYTES),
            ("a.png", JPEG_BYTES),
            ("x/b.pdf", PNG_BYTES),
        ]
    ),
)
def test_duplicate_names(data: bytes, kind: str) -> None:
    rows = read(data, kind)
    assert [(seq, path, code) for seq, path, code, _ in rows] == [
        (0, "a.png", "ok"),
        (1, "x/b.pdf", "ok"),
        (2, "a.png", SkipCode.DUPLICATE_NAME),
        (3, "x/b.pdf", SkipCode.DUPLICATE_NAME),
    ]


def test_names_equal_after_normalization_are_duplicates() -> None:
    nfd, nfc = "e\u0301.png", "\u00e9.png"
    data = make_tar(
        [("./a/b.png", PNG_BYTES), ("a//b.png", PNG_BYTES), (nfc, PNG_BYTES), (nfd, PNG_BYTES)]
    )
    assert [code for _, _, code, _ in read(data, "tar.gz")] == [
        "ok",
        SkipCode.DUPLICATE_NAME,
        "ok",
        SkipCode.DUPLICATE_NAME,
    ]


NESTED = [
    ("inner.zip", make_zip([("a.png", PNG_BYTES)]), "zip"),
    ("inner.tar.gz", make_tar([("a.png", PNG_BYTES)]), "gzip"),
    ("inner.tar", make_tar([("a.png", PNG_BYTES)], gz=False), "tar"),
    ("inner.7z", b"7z\xbc\xaf\x27\x1c" + noise(100), "7z"),
    ("inner.rar", b"Rar!\x1a\x07\x01\x00" + noise(100), "rar"),
]


@pytest.mark.parametrize(("name", "content", "what"), NESTED)
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_nested_archives_are_refused(name: str, content: bytes, what: str, kind: str) -> None:
    entries = [(name, content)]
    data = make_zip(entries) if kind == "zip" else make_tar(entries)
    ((_, path, code, reason),) = read(data, kind)
    assert (path, code) == (name, SkipCode.NESTED_ARCHIVE)
    assert f"a {what} archive" in str(reason)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("notes.txt", b"hello, this is text\n" * 10, SkipCode.UNSUPPORTED_TYPE),
        ("tiny.bin", b"BM", SkipCode.UNSUPPORTED_TYPE),  # too short to be a BMP
        ("blank.png", b"", SkipCode.EMPTY_FILE),
    ],
)
@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_unsupported_and_empty_files(name: str, content: bytes, code: str, kind: str) -> None:
    entries = [(name, content), ("ok.png", PNG_BYTES)]
    data = make_zip(entries) if kind == "zip" else make_tar(entries, gz=kind == "tar.gz")
    assert codes(data, kind) == [(name, code), ("ok.png", "ok")]


@pytest.mark.parametrize(
    ("data", "kind"), both([("big.png", PNG_BYTES + bytes(5000)), ("small.png", PNG_BYTES)])
)
def test_member_too_large(data: bytes, kind: str) -> None:
    limits = ArchiveLimits(1000, 4096, 10 * MIB, 200.0)
    rows = read(data, kind, limits)
    assert [(path, code) for _, path, code, _ in rows] == [
        ("big.png", SkipCode.MEMBER_TOO_LARGE),
        ("small.png", "ok"),
    ]
    assert "5308 bytes" in str(rows[0][3])


def test_zip_bomb_by_compression_ratio() -> None:
    bomb = PNG_BYTES[:8] + bytes(50 * MIB)  # deflates about 1000:1
    data = make_zip([("bomb.png", bomb), ("ok.png", PNG_BYTES)])
    assert len(data) < 100_000
    rows = read(data, "zip")
    assert [(path, code) for _, path, code, _ in rows] == [
        ("bomb.png", SkipCode.COMPRESSION_RATIO),
        ("ok.png", "ok"),
    ]
    assert "the limit is 200:1" in str(rows[0][3])


def test_compression_ratio_applies_only_from_one_mib() -> None:
    blank = PNG_BYTES[:8] + bytes(MIB - 9)  # a very compressible file just under the floor
    rows = read(make_zip([("blank.png", blank), ("over.png", blank + b"\x00")]), "zip")
    assert [(path, code) for _, path, code, _ in rows] == [
        ("blank.png", "ok"),
        ("over.png", SkipCode.COMPRESSION_RATIO),
    ]
    assert rows[0][3] == blank


@pytest.mark.parametrize(("data", "kind"), both([(f"p{i}.png", PNG_BYTES) for i in range(5)]))
def test_total_size_cap_skips_the_member_and_stops(data: bytes, kind: str) -> None:
    limits = ArchiveLimits(1000, MIB, 3 * len(PNG_BYTES) + 10, 200.0)
    rows = read(data, kind, limits)
    assert [(seq, code) for seq, _, code, _ in rows] == [
        (0, "ok"),
        (1, "ok"),
        (2, "ok"),
        (3, SkipCode.ARCHIVE_TOO_LARGE),
    ]
    assert "all after it were not read" in str(rows[3][3])


@pytest.mark.parametrize(("data", "kind"), both([(f"p{i}.png", PNG_BYTES) for i in range(6)]))
def test_member_count_cap_yields_one_skip_and_stops(data: bytes, kind: str) -> None:
    limits = ArchiveLimits(3, MIB, 10 * MIB, 200.0)
    rows = read(data, kind, limits)
    assert [(seq, path, code) for seq, path, code, _ in rows] == [
        (0, "p0.png", "ok"),
        (1, "p1.png", "ok"),
        (2, "p2.png", "ok"),
        (3, "p3.png", SkipCode.TOO_MANY_MEMBERS),
    ]
    reason = str(rows[3][3])
    assert "more than 3 files" in reason
    assert "the rest of the archive was not read" in reason


def test_directories_do_not_count_as_members() -> None:
    data = make_zip(
        [("a/", b""), ("a/b/", b""), ("a/b/1.png", PNG_BYTES), ("a/b/2.png", PNG_BYTES)]
    )
    rows = read(data, "zip", ArchiveLimits(2, MIB, MIB, 200.0))
    assert [(seq, path, code) for seq, path, code, _ in rows] == [
        (0, "a/b/1.png", "ok"),
        (1, "a/b/2.png", "ok"),
    ]


# --- declared sizes that lie, damage --------------------------------------------------------


def drain(stream: BinaryIO, chunk: int = 64) -> bytes:
    got = b""
    while data := stream.read(chunk):
        got += data
    return got


def first_member(data: bytes, kind: str = "zip") -> tuple[Iterator[Member | Skipped], Member]:
    """The iterator (kept alive: advancing or dropping it closes the stream) and its first."""
    entries = iter_entries(io.BytesIO(data), kind, LIMITS)
    entry = next(entries)
    assert isinstance(entry, Member), entry
    return entries, entry


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_member_smaller_than_its_data_never_yields_more(method: int) -> None:
    content = PNG_BYTES[:8] + noise(20_000)
    data = make_zip([("liar.png", content)], method)
    data = patch_zip(data, "liar.png", central={24: ("<L", 6000)}, local={22: ("<L", 6000)})
    entries = iter_entries(io.BytesIO(data), "zip", LIMITS)
    member = next(entries)
    got = b""
    if isinstance(member, Member):  # more than declared or a wrong size, found while read
        assert member.size == 6000
        with pytest.raises(MemberLimitExceeded) as raised:
            while chunk := member.stream.read(100):
                got += chunk
        assert raised.value.code in (SkipCode.MEMBER_TOO_LARGE, SkipCode.CORRUPT_MEMBER)
    else:  # deflated: libarchive finds the size wrong before the head is out
        assert (member.code, "wrong size" in member.reason) == (SkipCode.CORRUPT_MEMBER, True)
    assert len(got) <= 6000
    assert got == content[: len(got)]


def test_zip_lie_found_before_yielding_is_a_skip() -> None:
    data = make_zip([("liar.png", PNG_BYTES[:8] + noise(20_000)), ("ok.png", PNG_BYTES)])
    data = patch_zip(data, "liar.png", central={24: ("<L", 100)}, local={22: ("<L", 100)})
    rows = read(data, "zip")
    assert rows[0][1:3] in (
        ("liar.png", SkipCode.CORRUPT_MEMBER),  # libarchive: "wrong size"
        ("liar.png", SkipCode.MEMBER_TOO_LARGE),  # more than 100 bytes came out first
    )
    assert rows[1][1:3] == ("ok.png", "ok")


def test_zip_member_larger_than_its_data_is_corrupt() -> None:
    content = PNG_BYTES[:8] + noise(1000)
    data = make_zip([("short.png", content)])
    data = patch_zip(data, "short.png", central={24: ("<L", 5000)}, local={22: ("<L", 5000)})
    assert codes(data, "zip") == [("short.png", SkipCode.CORRUPT_MEMBER)]
    stored = make_zip([("short.png", content)], zipfile.ZIP_STORED)
    stored = patch_zip(stored, "short.png", central={24: ("<L", 5000)}, local={22: ("<L", 5000)})
    _entries, member = first_member(stored)
    with pytest.raises(MemberLimitExceeded) as raised:
        drain(member.stream)
    assert raised.value.code == SkipCode.CORRUPT_MEMBER


def test_zip_crc_mismatch_is_corrupt_while_reading() -> None:
    content = PNG_BYTES[:8] + noise(20_000)
    data = bytearray(make_zip([("bad.png", content)], zipfile.ZIP_STORED))
    data[data.find(content) + 15_000] ^= 0xFF  # past the peeked head
    _entries, member = first_member(bytes(data))
    with pytest.raises(MemberLimitExceeded, match="CRC") as raised:
        drain(member.stream, 4096)
    assert raised.value.code == SkipCode.CORRUPT_MEMBER


def test_zip_damage_seen_before_yielding_is_a_skip() -> None:
    content = PNG_BYTES[:8] + noise(5_000)
    good = make_zip([("a.png", content), ("b.png", content), ("c.png", content)])
    broken = bytearray(good)
    start = struct.unpack_from("<L", good, zip_record_offset(good, "b.png") + 42)[0] + 30 + 5
    broken[start : start + 20] = b"\xff" * 20  # deflate block type 3 does not exist
    moved = patch_zip(good, "c.png", central={42: ("<L", 7)}, local={})
    assert codes(bytes(broken), "zip") == [
        ("a.png", "ok"),
        ("b.png", SkipCode.CORRUPT_MEMBER),  # its deflate stream is garbage
        ("c.png", "ok"),
    ]
    seen: list[str] = []
    with pytest.raises(CorruptArchive, match="damaged"):  # no local header: libarchive stops
        seen.extend(entry.path for entry in iter_entries(io.BytesIO(moved), "zip", LIMITS))
    assert seen == ["a.png"]


def test_member_reader_refuses_more_than_declared() -> None:
    reader = MemberReader(io.BytesIO(b"0123456789"), 4, "x.png")
    assert reader.read(4) == b"0123"
    with pytest.raises(MemberLimitExceeded) as raised:
        reader.read(4)
    assert raised.value.code == SkipCode.MEMBER_TOO_LARGE


def test_member_reader_refuses_fewer_than_declared() -> None:
    reader = MemberReader(io.BytesIO(b"0123"), 10, "x.png")
    assert reader.peek_head(3) == b"012"
    assert reader.read(3) == b"012"
    assert reader.read(10) == b"3"
    with pytest.raises(MemberLimitExceeded, match="ended after 4 of its declared 10") as raised:
        reader.read(10)
    assert raised.value.code == SkipCode.CORRUPT_MEMBER


def test_member_limit_exceeded_is_not_a_quire_error() -> None:
    error = MemberLimitExceeded(SkipCode.CORRUPT_MEMBER, "bad CRC")
    assert not isinstance(error, QuireError)
    assert (error.code, error.reason) == ("corrupt_member", "bad CRC")


def test_truncated_tar_gz_member_then_archive_is_corrupt() -> None:
    data = make_tar(
        [("a.png", PNG_BYTES), ("b.png", PNG_BYTES[:8] + noise(200_000)), ("c.png", PNG_BYTES)]
    )
    entries = iter_entries(io.BytesIO(data[: len(data) // 2]), "tar.gz", LIMITS)
    first = next(entries)
    assert isinstance(first, Member) and first.stream.read() == PNG_BYTES
    second = next(entries)
    assert isinstance(second, Member)
    with pytest.raises(MemberLimitExceeded) as raised:
        drain(second.stream, 4096)
    assert raised.value.code == SkipCode.CORRUPT_MEMBER
    with pytest.raises(CorruptArchive):
        next(entries)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"this is not a zip at all" * 10, "zip"),
        (make_zip([("a.png", PNG_BYTES)])[:-10], "zip"),  # end record cut off
        (b"", "zip"),
        (b"\x1f\x8b" + noise(500), "tar.gz"),
        (gzip.compress(b"not a tar archive, just text " * 100), "tar.gz"),
        (b"", "tar"),
        (b"", "tar.gz"),
        (noise(2048), "tar"),
    ],
)
def test_unreadable_archives_raise_corrupt_archive_on_open(data: bytes, kind: str) -> None:
    with pytest.raises(CorruptArchive):
        iter_entries(io.BytesIO(data), kind, LIMITS)


def test_central_directory_without_records_reads_as_empty() -> None:
    data = make_zip([("a.png", PNG_BYTES)]).replace(b"PK\x01\x02", b"XX\x01\x02")
    assert read(data, "zip") == []  # the batch then fails with no_documents


def test_damaged_central_directory_record_ends_the_zip() -> None:
    data = make_zip([("a.png", PNG_BYTES), ("b.png", PNG_BYTES), ("c.png", PNG_BYTES)])
    broken = bytearray(data)
    broken[zip_record_offset(data, "b.png")] = ord("X")
    with pytest.raises(CorruptArchive, match="central directory"):  # read whole, up front
        iter_entries(io.BytesIO(bytes(broken)), "zip", LIMITS)


def test_huge_tar_header_is_refused_without_reading_it_whole() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("a.png")
        info.size = len(PNG_BYTES)
        archive.addfile(info, io.BytesIO(PNG_BYTES))
        info = tarfile.TarInfo("long/" + "n" * (3 * MIB) + ".png")  # a 3 MiB pax path
        info.size = len(PNG_BYTES)
        archive.addfile(info, io.BytesIO(PNG_BYTES))
    entries = iter_entries(io.BytesIO(buffer.getvalue()), "tar.gz", LIMITS)
    assert isinstance(next(entries), Member)
    with pytest.raises(CorruptArchive, match="header too large"):
        next(entries)


def test_unknown_kind_and_unseekable_zip() -> None:
    with pytest.raises(ValueError, match="unknown archive kind"):
        iter_entries(io.BytesIO(b""), "cpio", LIMITS)
    with pytest.raises(ValueError, match="seekable"):
        iter_entries(io.BufferedReader(ForwardOnly(iter([make_zip([])]))), "zip", LIMITS)


def test_zip_with_prepended_bytes_is_read() -> None:
    data = b"MZ" + noise(5000) + make_zip([("a.png", PNG_BYTES), ("b.png", TIFF_BYTES)])
    assert read(data, "zip") == [(0, "a.png", "ok", PNG_BYTES), (1, "b.png", "ok", TIFF_BYTES)]


def test_zip64_end_record() -> None:
    folders = [(f"f{i}/", b"") for i in range(0x10000)]  # more than 65535 entries: zip64
    data = make_zip([*folders, ("deep/a.png", PNG_BYTES)], zipfile.ZIP_STORED)
    assert b"PK\x06\x06" in data[-200:]
    assert read(data, "zip") == [(0, "deep/a.png", "ok", PNG_BYTES)]


def test_zip64_member_fields() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("wide.png", "w", force_zip64=True) as target:
            target.write(PNG_BYTES)
        archive.writestr("plain.png", TIFF_BYTES)
    assert read(buffer.getvalue(), "zip") == [
        (0, "wide.png", "ok", PNG_BYTES),
        (1, "plain.png", "ok", TIFF_BYTES),
    ]


# --- names, content, resume -----------------------------------------------------------------

UNICODE_NAMES = [
    ("Cafe\u0301/Pa\u0301gina 1.png", "Caf\u00e9/P\u00e1gina 1.png"),
    ("📦 box/📄 page 😀.png", "📦 box/📄 page 😀.png"),
    ("ملفات/صفحة ١.png", "ملفات/صفحة ١.png"),  # noqa: RUF001
    ("מסמכים/\u202bעמוד\u202c.png", "מסמכים/\u202bעמוד\u202c.png"),  # noqa: RUF001
    ("日本語/ページ.png", "日本語/ページ.png"),
    ("box1/folder2/sub3/p.png", "box1/folder2/sub3/p.png"),
]


@pytest.mark.parametrize(("name", "path"), UNICODE_NAMES)
@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz"])
def test_unicode_and_deep_names(name: str, path: str, kind: str) -> None:
    entries = [(name, PNG_BYTES)]
    data = make_zip(entries) if kind == "zip" else make_tar(entries, gz=kind == "tar.gz")
    assert read(data, kind) == [(0, path, "ok", PNG_BYTES)]


def test_zip_legacy_names() -> None:
    legacy = zipfile.ZipInfo("legacy.png")
    utf8 = "Ünïcödé.png".encode()
    legacy.extra = struct.pack("<HHBL", 0x7075, 5 + len(utf8), 1, zlib.crc32(b"legacy.png")) + utf8
    data = make_zip([(legacy, PNG_BYTES), ("plain.png", PNG_BYTES)])
    data = data.replace(b"plain.png", b"pl\x84in.png")  # cp437 0x84 is ä; no UTF-8 flag
    assert [path for _, path, _, _ in read(data, "zip")] == ["Ünïcödé.png", "pläin.png"]


def test_undecodable_tar_names_are_replaced() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1") as t:
        info = tarfile.TarInfo("caf\u00e9.png")  # written as latin-1, read as UTF-8
        info.size = len(PNG_BYTES)
        t.addfile(info, io.BytesIO(PNG_BYTES))
    ((_, path, code, _),) = read(raw.getvalue(), "tar")
    assert (path, code) == ("caf\ufffd.png", "ok")
    path.encode("utf-8")  # storable


@pytest.mark.parametrize(
    ("name", "content", "media"),
    [
        ("p.png", PNG_BYTES, PNG),
        ("p.jpg", JPEG_BYTES, JPEG),
        ("p.pdf", PDF_BYTES, PDF),
        ("p.tif", TIFF_BYTES, TIFF),
        ("tiny.png", PNG_BYTES[:20], PNG),  # shorter than the peeked head
        ("big.pdf", PDF_BYTES + noise(300_000), PDF),
    ],
)
@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_member_stream_gives_every_byte(
    name: str, content: bytes, media: object, kind: str
) -> None:
    entries = [(name, content)]
    data = make_zip(entries) if kind == "zip" else make_tar(entries)
    _entries, entry = first_member(data, kind)
    assert (entry.kind, entry.size) == (media, len(content))
    assert drain(entry.stream, 100) == content  # small reads, the head first


def test_member_stream_is_closed_when_the_iterator_advances() -> None:
    data = make_zip([("a.png", PNG_BYTES), ("b.png", PNG_BYTES)])
    entries = iter_entries(io.BytesIO(data), "zip", LIMITS)
    first = next(entries)
    assert isinstance(first, Member)
    next(entries)
    with pytest.raises(ValueError):
        first.stream.read()


def resume_archive() -> list[tuple[str, bytes]]:
    files = [(f"box/{i:02d}.png", PNG_BYTES + bytes([i])) for i in range(8)]
    files.insert(3, ("notes.txt", b"text"))
    files.insert(6, ("box/01.png", PNG_BYTES))  # a duplicate of an entry before the resume point
    return files


@pytest.mark.parametrize(("data", "kind"), both(resume_archive()))
@pytest.mark.parametrize("start_seq", [0, 1, 5, 7, 10, 20])
def test_resume_yields_exactly_the_remaining_entries(
    data: bytes, kind: str, start_seq: int
) -> None:
    everything = read(data, kind)
    assert [code for _, _, code, _ in everything].count(SkipCode.DUPLICATE_NAME) == 1
    assert read(data, kind, start_seq=start_seq) == [r for r in everything if r[0] >= start_seq]


def test_zip_resume_does_not_read_earlier_members() -> None:
    files = [(f"p{i}.png", PNG_BYTES[:8] + noise(100_000)) for i in range(10)]
    data = make_zip(files, zipfile.ZIP_STORED)
    raw = RangeReader(lambda s, e: data[s:e], len(data), block_size=16 * 1024)
    rows = list(iter_entries(io.BufferedReader(raw), "zip", LIMITS, start_seq=9))
    assert [(e.seq, e.path) for e in rows] == [(9, "p9.png")]
    # Each earlier member costs its local header (one or two blocks), never its data.
    assert raw.bytes_fetched <= (2 * 9 + 4) * 16 * 1024 < 0.4 * len(data)


# --- memory ---------------------------------------------------------------------------------


class ForwardOnly(io.RawIOBase):
    """A non-seekable stream over chunks from a generator."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            self._pending = next(self._chunks, b"")
            if not self._pending:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.chunks.append(bytes(data))
        return len(data)


def tar_gz_stream(members: int, size: int) -> Iterator[bytes]:
    """A tar.gz made on the fly: never whole in memory."""
    sink = _Sink()
    with tarfile.open(fileobj=sink, mode="w|gz") as archive:
        for i in range(members):
            info = tarfile.TarInfo(f"box{i // 100}/page{i:05d}.png")
            info.size = size
            archive.addfile(
                info, io.BytesIO(PNG_BYTES[:8] + i.to_bytes(4, "big") * ((size - 8) // 4))
            )
            yield from sink.chunks
            sink.chunks.clear()
    yield from sink.chunks


MANY = ArchiveLimits(10_000, MIB, 1024 * MIB, 200.0)


def consume(entries: Iterator[Member | Skipped]) -> tuple[int, int]:
    members, total = 0, 0
    for entry in entries:
        assert isinstance(entry, Member), entry
        members += 1
        while chunk := entry.stream.read(16 * 1024):
            total += len(chunk)
    return members, total


def test_tar_gz_of_many_members_streams_in_flat_memory() -> None:
    stream = io.BufferedReader(ForwardOnly(tar_gz_stream(2000, 8 * 1024)))
    tracemalloc.start()
    try:
        result = consume(iter_entries(stream, "tar.gz", MANY))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == (2000, 2000 * 8 * 1024)  # 16 MiB read
    assert peak < 1.5 * MIB  # about 1.2 MiB; keeping tarfile's header list would pass 1.8


def test_zip_through_range_reader_in_bounded_memory_and_fetches() -> None:
    files = [(f"box{i // 100}/page{i:05d}.png", PNG_BYTES[:8] + noise(8192)) for i in range(2000)]
    data = make_zip(files)  # about 16 MiB: noise does not compress
    raw = RangeReader(lambda s, e: data[s:e], len(data), block_size=256 * 1024, cache_blocks=4)
    stream = io.BufferedReader(raw)
    tracemalloc.start()
    try:
        result = consume(iter_entries(stream, "zip", MANY))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == (2000, 2000 * (8 + 8192))
    assert len(data) <= raw.bytes_fetched <= 1.1 * len(data)
    assert peak < 3 * MIB  # the cache holds 1 MiB of the 16 MiB archive


def test_limits_from_settings() -> None:
    settings = Settings(
        archive_max_members=10,
        archive_max_member_mb=3,
        archive_max_total_gb=2,
        archive_max_ratio=50.0,
    )
    assert ArchiveLimits.from_settings(settings) == ArchiveLimits(10, 3 * MIB, 2 * 1024 * MIB, 50.0)
