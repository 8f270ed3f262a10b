"""tests/rar_fixtures.py writes RAR 4 archives that libarchive reads back as intended.

The hostile cases pin what the system libarchive (3.6.2) does with them, as observed:
the encrypted flag is reported per entry but a stored entry's bytes still read back as is,
and a wrong FILE_CRC of a stored entry is only noticed when the header declares more bytes
than are stored.
"""

from __future__ import annotations

import ctypes
import struct
import zlib
from dataclasses import dataclass

import libarchive
import pytest

from tests.rar_fixtures import MARKER, RarEntry, make_rar

_is_encrypted = libarchive.ffi.libarchive["archive_entry_is_encrypted"]
_is_encrypted.argtypes = [ctypes.c_void_p]
_is_encrypted.restype = ctypes.c_int

# Marker block (7 bytes) + archive header (13 bytes), then the first file header's
# HEAD_CRC, HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE, PACK_SIZE, UNP_SIZE and HOST_OS: 16 bytes.
_FIRST_FILE_CRC = 7 + 13 + 16


@dataclass(frozen=True)
class Read:
    pathname: str
    size: int | None
    kind: str
    linkpath: str | None
    encrypted: bool
    data: bytes | None  # None: reading the data raised ArchiveError
    error: str = ""


def read_all(archive: bytes) -> list[Read]:
    out: list[Read] = []
    with libarchive.memory_reader(archive) as entries:
        for e in entries:
            kind = "dir" if e.isdir else "symlink" if e.issym else "file" if e.isreg else "?"
            encrypted = bool(_is_encrypted(e._entry_p))
            try:
                data: bytes | None = b"".join(e.get_blocks())
                error = ""
            except libarchive.ArchiveError as exc:
                data, error = None, str(exc)
            out.append(Read(e.pathname, e.size, kind, e.linkpath, encrypted, data, error))
    return out


def test_starts_with_the_rar4_marker_block() -> None:
    assert make_rar([("a.txt", b"a")]).startswith(b"Rar!\x1a\x07\x00")
    assert MARKER == b"Rar!\x1a\x07\x00"


def test_files_read_back_with_their_bytes() -> None:
    files = {"a.txt": b"hello", "sub/b.bin": bytes(range(256)), "empty": b""}
    reads = read_all(make_rar(files.items()))
    assert [(r.pathname, r.size, r.kind, r.data) for r in reads] == [
        (name, len(data), "file", data) for name, data in files.items()
    ]
    assert not any(r.encrypted for r in reads)


def test_tuples_and_entries_write_the_same_archive() -> None:
    assert make_rar([("a", b"x")]) == make_rar([RarEntry("a", b"x")])


@pytest.mark.parametrize("name", ["café/日本.png", "emoji 🎉.jpg", "Ωmega/ß"])
def test_non_ascii_names_read_back_exactly(name: str) -> None:
    [read] = read_all(make_rar([(name, b"\x89PNG")]))
    assert (read.pathname, read.data) == (name, b"\x89PNG")


def test_directory_and_a_file_inside_it() -> None:
    reads = read_all(make_rar([RarEntry("scans/", kind="dir"), ("scans/p1.png", b"p")]))
    assert [(r.pathname.rstrip("/"), r.kind) for r in reads] == [
        ("scans", "dir"),
        ("scans/p1.png", "file"),
    ]


def test_symlink_carries_its_target() -> None:
    reads = read_all(make_rar([RarEntry("link", b"../etc/passwd", kind="symlink"), ("n", b"1")]))
    assert (reads[0].pathname, reads[0].kind, reads[0].linkpath) == (
        "link",
        "symlink",
        "../etc/passwd",
    )
    assert reads[1].data == b"1"


def test_encrypted_entry_is_flagged_and_the_next_entry_reads() -> None:
    reads = read_all(
        make_rar([RarEntry("secret.png", b"ciphertext", encrypted=True), ("n", b"ok")])
    )
    assert reads[0].encrypted
    # libarchive 3.6.2 raises nothing for a stored encrypted entry: the header read only sets
    # the error string "RAR encryption support unavailable." and the data read returns the
    # stored bytes unchanged. Callers must check archive_entry_is_encrypted themselves.
    assert reads[0].data == b"ciphertext"
    assert (reads[1].pathname, reads[1].encrypted, reads[1].data) == ("n", False, b"ok")


def test_member_of_200_kb() -> None:
    big = bytes(range(256)) * 800
    [read] = read_all(make_rar([("big.tif", big)]))
    assert (read.size, read.data) == (200 * 1024, big)


@pytest.mark.parametrize("declared", [100, 2**33])  # 2**33: HIGH_UNP_SIZE (flag 0x100)
def test_declared_size_above_the_stored_bytes(declared: int) -> None:
    reads = read_all(make_rar([RarEntry("liar", b"abcdef", declared_size=declared), ("n", b"1")]))
    # libarchive reports UNP_SIZE as the entry's size, and the read ends quietly (no error)
    # after the PACK_SIZE bytes that are there.
    assert (reads[0].size, reads[0].data) == (declared, b"abcdef")
    assert reads[1].data == b"1"


@pytest.mark.parametrize("declared", [0, 1, 5000])
def test_declared_size_below_the_stored_bytes(declared: int) -> None:
    big = bytes(range(256)) * 800
    reads = read_all(make_rar([RarEntry("liar", big, declared_size=declared), ("n", b"1")]))
    # The read stops at the first archive_read_data call made once the declared size is
    # reached: 0 gives b"", else a prefix of the stored bytes in libarchive-c's 4 KiB reads.
    data = reads[0].data
    assert reads[0].size == declared and data is not None
    assert big.startswith(data) and declared <= len(data) < declared + 4096
    assert reads[1].data == b"1"


def test_bad_crc_is_written() -> None:
    good = make_rar([("c", b"abc")])
    bad = make_rar([RarEntry("c", b"abc", bad_crc=True)])
    stored = struct.unpack_from("<I", bad, _FIRST_FILE_CRC)[0]
    assert struct.unpack_from("<I", good, _FIRST_FILE_CRC)[0] == zlib.crc32(b"abc")
    assert stored != zlib.crc32(b"abc")


def test_bad_crc_as_libarchive_sees_it() -> None:
    # libarchive 3.6.2 checks a stored entry's CRC only on a read past the stored bytes, which
    # it makes only while the declared size is not yet reached: with a truthful UNP_SIZE a
    # wrong CRC goes unnoticed (no error, no warning); with UNP_SIZE > PACK_SIZE the read
    # raises ArchiveError "File CRC error" (ARCHIVE_FATAL), and the next entry still reads.
    [silent] = read_all(make_rar([RarEntry("c", b"abc", bad_crc=True)]))
    assert silent.data == b"abc"
    reads = read_all(make_rar([RarEntry("c", b"abc", bad_crc=True, declared_size=4), ("n", b"1")]))
    assert reads[0].data is None and "CRC" in reads[0].error
    assert reads[1].data == b"1"
    [good] = read_all(make_rar([RarEntry("c", b"abc", declared_size=4)]))
    assert good.data == b"abc"


def test_header_crc_is_checked() -> None:
    archive = bytearray(make_rar([("abc.txt", b"x")]))
    archive[archive.index(b"abc.txt")] ^= 0x01  # the name, covered by HEAD_CRC
    with pytest.raises(libarchive.ArchiveError):
        read_all(bytes(archive))


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        make_rar([RarEntry("x", kind="fifo")])
