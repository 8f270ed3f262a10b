"""The formats libarchive brings: 7z, RAR, encrypted zips, compressed tars, through the same
rules as zip and tar (paths, duplicates, types, sizes, bombs, resume)."""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Iterator

import pytest

from shared.errors import CorruptArchive
from shared.media import ARCHIVE_KINDS, sniff_archive
from tests.hostile_inputs import W, libarchive_write, make_tar, make_zip
from tests.rar_fixtures import RarEntry, make_rar
from worker.archives import (
    ArchiveLimits,
    Member,
    MemberLimitExceeded,
    SkipCode,
    Skipped,
    iter_entries,
)
from worker.libarchive_reader import library_version

MIB = 1024 * 1024
LIMITS = ArchiveLimits(1000, 100 * MIB, 1024 * MIB, 200.0)
_rng = random.Random(7)
PNG = b"\x89PNG\r\n\x1a\n" + _rng.randbytes(2000)
PDF = b"%PDF-1.7\n" + _rng.randbytes(3000)


def rows(data: bytes, kind: str, limits: ArchiveLimits = LIMITS, start_seq: int = 0) -> list[tuple]:
    """(seq, path, "ok" or the skip code, bytes or reason) per entry, as the ingest sees it."""
    out: list[tuple] = []
    for entry in iter_entries(io.BytesIO(data), kind, limits, start_seq):
        if isinstance(entry, Skipped):
            out.append((entry.seq, entry.path, entry.code, entry.reason))
            continue
        try:
            out.append((entry.seq, entry.path, "ok", entry.stream.read()))
        except MemberLimitExceeded as e:
            out.append((entry.seq, entry.path, e.code, e.reason))
    return out


def codes(data: bytes, kind: str, limits: ArchiveLimits = LIMITS) -> list[tuple[str, str]]:
    return [(path, code) for _, path, code, _ in rows(data, kind, limits)]


def seven(entries: list[W | tuple[str, bytes]]) -> bytes:
    return libarchive_write(entries, "7zip")


def test_libarchive_is_loaded() -> None:
    major, minor, _ = (int(p) for p in library_version().split("."))
    assert (major, minor) >= (3, 6)


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (make_zip([("a.png", PNG)]), "zip"),
        (seven([("a.png", PNG)]), "7z"),
        (make_rar([("a.png", PNG)]), "rar"),
        (make_tar([("a.png", PNG)], gz=False), "tar"),
        (make_tar([("a.png", PNG)]), "tar.gz"),
        (libarchive_write([("a.png", PNG)], "gnutar", "bzip2"), "tar.bz2"),
        (libarchive_write([("a.png", PNG)], "gnutar", "xz"), "tar.xz"),
        (libarchive_write([("a.png", PNG)], "gnutar", "zstd"), "tar.zst"),
        (PNG, None),
        (PDF, None),
    ],
)
def test_archives_are_sniffed_by_their_magic_bytes(data: bytes, kind: str | None) -> None:
    assert sniff_archive(data[:512]) == kind
    if kind is not None:
        assert kind in ARCHIVE_KINDS
        assert rows(data, kind)[0][1:3] == ("a.png", "ok")


def test_rar5_is_sniffed() -> None:
    assert sniff_archive(b"Rar!\x1a\x07\x01\x00" + bytes(100)) == "rar"


# --- 7z -------------------------------------------------------------------------------------


def test_7z_keeps_the_folder_layout_and_every_byte() -> None:
    data = seven([W("box", folder=True), ("box/sub/p1.png", PNG), ("box/p2.pdf", PDF)])
    assert rows(data, "7z") == [(0, "box/sub/p1.png", "ok", PNG), (1, "box/p2.pdf", "ok", PDF)]


def test_7z_hostile_names_types_and_duplicates() -> None:
    inner = make_zip([("a.png", PNG)])
    data = seven(
        [
            ("../evil.png", PNG),
            ("/etc/evil.png", PNG),
            ("ok.png", PNG),
            ("ok.png", PDF),
            ("notes.txt", b"plain text\n" * 20),
            ("in.zip", inner),
            ("Cafe\u0301/\U0001f4c4.png", PNG),
        ]
    )
    assert codes(data, "7z") == [
        ("../evil.png", SkipCode.UNSAFE_PATH),
        ("/etc/evil.png", SkipCode.UNSAFE_PATH),
        ("ok.png", "ok"),
        ("ok.png", SkipCode.DUPLICATE_NAME),
        ("notes.txt", SkipCode.UNSUPPORTED_TYPE),
        ("in.zip", SkipCode.NESTED_ARCHIVE),
        ("Caf\u00e9/\U0001f4c4.png", "ok"),
    ]


def test_7z_empty_and_oversized_members() -> None:
    data = seven([("big.png", PNG + bytes(10_000)), ("small.png", PNG), ("empty.png", b"")])
    limits = ArchiveLimits(1000, 5000, 10 * MIB, 200.0)
    assert codes(data, "7z", limits) == [
        ("big.png", SkipCode.MEMBER_TOO_LARGE),
        ("small.png", "ok"),
        ("empty.png", SkipCode.EMPTY_FILE),  # 7z keeps empty files apart, after the rest
    ]


def test_7z_bomb_stops_a_few_mib_in() -> None:
    data = seven([("ok.png", PNG), ("bomb.png", PNG[:8] + bytes(50 * MIB)), ("last.png", PNG)])
    assert len(data) < 200_000
    entries = iter_entries(io.BytesIO(data), "7z", LIMITS)
    assert isinstance(next(entries), Member)
    bomb = next(entries)
    assert isinstance(bomb, Member)
    got = 0
    with pytest.raises(MemberLimitExceeded) as raised:
        while chunk := bomb.stream.read(64 * 1024):
            got += len(chunk)
    assert raised.value.code == SkipCode.COMPRESSION_RATIO
    assert got < 8 * MIB  # judged on every archive byte read so far: 7z members share streams
    last = next(entries)
    assert isinstance(last, Member) and last.stream.read() == PNG


def test_7z_caps_on_count_and_total() -> None:
    data = seven([(f"p{i}.png", PNG) for i in range(5)])
    assert [c for _, c in codes(data, "7z", ArchiveLimits(3, MIB, 10 * MIB, 200.0))] == [
        "ok",
        "ok",
        "ok",
        SkipCode.TOO_MANY_MEMBERS,
    ]
    total = ArchiveLimits(1000, MIB, 2 * len(PNG) + 1, 200.0)
    assert [c for _, c in codes(data, "7z", total)] == ["ok", "ok", SkipCode.ARCHIVE_TOO_LARGE]


@pytest.mark.parametrize("start_seq", [0, 2, 4, 6])
def test_7z_resume(start_seq: int) -> None:
    data = seven([(f"p{i}.png", PNG + bytes([i])) for i in range(5)])
    everything = rows(data, "7z")
    assert rows(data, "7z", start_seq=start_seq) == [r for r in everything if r[0] >= start_seq]


def test_7z_needs_a_seekable_stream_and_damage_is_corrupt() -> None:
    data = seven([("a.png", PNG)])

    class Forward(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

    with pytest.raises(ValueError, match="seekable"):
        iter_entries(Forward(), "7z", LIMITS)  # type: ignore[arg-type]
    with pytest.raises(CorruptArchive):
        iter_entries(io.BytesIO(data[: len(data) // 2]), "7z", LIMITS)


# --- RAR ------------------------------------------------------------------------------------


def test_rar_keeps_the_folder_layout_and_every_byte() -> None:
    data = make_rar(
        [
            RarEntry("box", kind="dir"),
            ("box/sub/p1.png", PNG),
            ("box/p2.pdf", PDF),
            ("caf\u00e9/\u65e5\u672c.png", PNG),
        ]
    )
    assert rows(data, "rar") == [
        (0, "box/sub/p1.png", "ok", PNG),
        (1, "box/p2.pdf", "ok", PDF),
        (2, "caf\u00e9/\u65e5\u672c.png", "ok", PNG),
    ]


def test_rar_hostile_members() -> None:
    data = make_rar(
        [
            ("../evil.png", PNG),
            RarEntry("link.png", b"/etc/passwd", kind="symlink"),
            RarEntry("secret.png", PNG, encrypted=True),
            ("ok.png", PNG),
            ("./ok.png", PDF),  # the same path once normalized
            ("in.rar", make_rar([("a.png", PNG)])),
            ("empty.png", b""),
            RarEntry("short.png", PNG, declared_size=len(PNG) + 1000),
            ("last.png", PNG),
        ]
    )
    assert codes(data, "rar") == [
        ("../evil.png", SkipCode.UNSAFE_PATH),
        ("link.png", SkipCode.NOT_A_REGULAR_FILE),
        ("secret.png", SkipCode.ENCRYPTED_MEMBER),
        ("ok.png", "ok"),
        ("ok.png", SkipCode.DUPLICATE_NAME),
        ("in.rar", SkipCode.NESTED_ARCHIVE),
        ("empty.png", SkipCode.EMPTY_FILE),
        ("short.png", SkipCode.CORRUPT_MEMBER),  # fewer bytes than its header declares
        ("last.png", "ok"),
    ]


def test_rar_member_declaring_less_never_gives_more() -> None:
    data = make_rar([RarEntry("liar.png", PNG, declared_size=100), ("ok.png", PNG)])
    assert rows(data, "rar") == [(0, "liar.png", "ok", PNG[:100]), (1, "ok.png", "ok", PNG)]


@pytest.mark.parametrize("start_seq", [0, 1, 3])
def test_rar_resume_from_a_forward_only_stream(start_seq: int) -> None:
    data = make_rar([(f"p{i}.png", PNG + bytes([i])) for i in range(3)])

    class Forward(io.BytesIO):
        def seekable(self) -> bool:
            return False

    got = [
        (e.seq, e.path)
        for e in iter_entries(Forward(data), "rar", LIMITS, start_seq)  # type: ignore[arg-type]
    ]
    assert got == [(i, f"p{i}.png") for i in range(start_seq, 3)]


# --- zip encryption and compressed tars -------------------------------------------------------


@pytest.mark.parametrize("encryption", ["zipcrypt", "aes128", "aes256"])
def test_encrypted_zip_members_are_skipped(encryption: str) -> None:
    data = libarchive_write(
        [("secret.png", PNG)], "zip", options=f"zip:encryption={encryption}", passphrase="pw"
    )
    assert codes(data, "zip") == [("secret.png", SkipCode.ENCRYPTED_MEMBER)]


def test_zip_written_by_libarchive_with_links_and_folders() -> None:
    data = libarchive_write(
        [W("box", folder=True), ("box/a.png", PNG), W("box/l.png", link="a.png")], "zip"
    )
    assert codes(data, "zip") == [
        ("box/a.png", "ok"),
        ("box/l.png", SkipCode.NOT_A_REGULAR_FILE),
    ]


def _compressed_tars() -> Iterator[tuple[bytes, str]]:
    entries = [("box/a.png", PNG), ("box/b.pdf", PDF)]
    for mode, kind in (("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode=mode) as archive:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        yield buffer.getvalue(), kind
    yield libarchive_write(entries, "pax", "zstd"), "tar.zst"


@pytest.mark.parametrize(("data", "kind"), list(_compressed_tars()))
def test_compressed_tars(data: bytes, kind: str) -> None:
    assert sniff_archive(data[:512]) == kind
    assert rows(data, kind) == [(0, "box/a.png", "ok", PNG), (1, "box/b.pdf", "ok", PDF)]


def test_tar_gz_bomb_is_caught_as_well() -> None:
    data = make_tar([("bomb.png", PNG[:8] + bytes(20 * MIB)), ("ok.png", PNG)])
    assert codes(data, "tar.gz") == [
        ("bomb.png", SkipCode.COMPRESSION_RATIO),
        ("ok.png", "ok"),
    ]


def test_a_gzip_that_holds_no_tar_is_corrupt() -> None:
    import gzip

    with pytest.raises(CorruptArchive, match=r"tar\.gz"):
        iter_entries(io.BytesIO(gzip.compress(PNG)), "tar.gz", LIMITS)
