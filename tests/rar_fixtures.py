"""A test-only writer of stored (uncompressed) RAR 4 archives.

Written because no RAR creator (``rar``, WinRAR) installs on the build machines. It emits the
RAR 2.9 block format that libarchive reads: the marker block, an archive header, one file
header per entry followed by the entry's bytes as stored (method 0x30), and an end-of-archive
block. Every entry is written with host OS Unix, so names keep "/" and the mode carries the
file type. Hostile fields on request: the encrypted flag, a lying UNP_SIZE and a wrong
FILE_CRC. Nothing here compresses or encrypts anything.
"""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

MARKER = b"Rar!\x1a\x07\x00"

_MAIN_HEAD, _FILE_HEAD, _END_HEAD = 0x73, 0x74, 0x7B
_FHD_PASSWORD = 0x04  # the entry's data is encrypted
_FHD_DIRECTORY = 0xE0  # dictionary bits all set: a directory
_FHD_LARGE = 0x100  # HIGH_PACK_SIZE and HIGH_UNP_SIZE follow ATTR
_FHD_UNICODE = 0x200  # name = legacy bytes + b"\x00" + encoded UTF-16
_LONG_BLOCK = 0x8000  # ADD_SIZE (here PACK_SIZE) bytes of data follow the header
_END_FLAGS = 0x4000  # set by every RAR writer on the end-of-archive block
_HOST_UNIX = 3
_UNP_VER = 29  # RAR 2.9
_METHOD_STORE = 0x30
# DOS date and time of 2024-01-01 12:00:00: fixed, so equal inputs give equal archives.
_FTIME = ((2024 - 1980) << 25) | (1 << 21) | (1 << 16) | (12 << 11)
_MODES = {
    "file": stat.S_IFREG | 0o644,
    "dir": stat.S_IFDIR | 0o755,
    "symlink": stat.S_IFLNK | 0o777,
}


@dataclass(frozen=True)
class RarEntry:
    name: str
    data: bytes = b""
    kind: str = "file"  # "file", "dir" or "symlink" (symlink: data is the link target)
    encrypted: bool = False  # sets the encrypted flag; data is written as is
    declared_size: int | None = None  # UNP_SIZE to write instead of len(data)
    bad_crc: bool = False  # write a wrong FILE_CRC


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    """A block header: HEAD_CRC (low 16 bits of CRC32 from HEAD_TYPE on), type, flags, size."""
    rest = struct.pack("<BHH", head_type, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(rest) & 0xFFFF) + rest


def _encode_name(name: str) -> tuple[bytes, int]:
    """The name field and the flag it needs: plain ASCII, or legacy bytes + encoded UTF-16.

    The encoded form is a high byte (unused here) followed by groups of one flag byte and
    up to four characters; flag bits 0b10 per character mean "two bytes, low byte first",
    the one form that can spell every UTF-16 code unit.
    """
    if name.isascii():
        return name.encode("ascii"), 0
    units = name.encode("utf-16-le")
    encoded = bytearray(b"\x00")
    for start in range(0, len(units), 8):
        encoded.append(0xAA)
        encoded += units[start : start + 8]
    return name.encode("ascii", "replace") + b"\x00" + bytes(encoded), _FHD_UNICODE


def _file_block(entry: RarEntry) -> bytes:
    if entry.kind not in _MODES:
        raise ValueError(f"unknown RAR entry kind {entry.kind!r}")
    if entry.kind == "dir" and entry.data:
        raise ValueError("a RAR directory entry has no data")
    name, flags = _encode_name(entry.name.rstrip("/") if entry.kind == "dir" else entry.name)
    flags |= _LONG_BLOCK
    if entry.kind == "dir":
        flags |= _FHD_DIRECTORY
    if entry.encrypted:
        flags |= _FHD_PASSWORD
    pack_size = len(entry.data)
    unp_size = len(entry.data) if entry.declared_size is None else entry.declared_size
    crc = zlib.crc32(entry.data)
    if entry.bad_crc:
        crc ^= 0xFFFFFFFF
    large = pack_size >> 32 or unp_size >> 32
    if large:
        flags |= _FHD_LARGE
    body = struct.pack(
        "<IIBIIBBHI",
        pack_size & 0xFFFFFFFF,
        unp_size & 0xFFFFFFFF,
        _HOST_UNIX,
        crc,
        _FTIME,
        _UNP_VER,
        _METHOD_STORE,
        len(name),
        _MODES[entry.kind],
    )
    if large:
        body += struct.pack("<II", pack_size >> 32, unp_size >> 32)
    return _block(_FILE_HEAD, flags, body + name) + entry.data


def make_rar(entries: Iterable[RarEntry | tuple[str, bytes]]) -> bytes:
    """A whole RAR 4 archive holding ``entries`` (``(name, data)`` pairs are plain files)."""
    out = bytearray(MARKER)
    out += _block(_MAIN_HEAD, 0, b"\x00" * 6)  # RESERVED1 (2 bytes), RESERVED2 (4 bytes)
    for item in entries:
        entry = item if isinstance(item, RarEntry) else RarEntry(item[0], item[1])
        out += _file_block(entry)
    out += _block(_END_HEAD, _END_FLAGS, b"")
    return bytes(out)
