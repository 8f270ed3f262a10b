"""Read uploaded archives (zip, tar, tar.gz) one member at a time, safely, in bounded memory.

``iter_entries`` yields, in archive order, a ``Member`` for each file to ingest and a
``Skipped`` (with a stable ``code`` and a human ``reason``) for each file refused. Nothing is
extracted to disk. Directories are not entries.

Zip archives are read through their central directory, parsed here record by record (not
with ``zipfile.ZipFile``, which loads every record of the archive into memory at once); each
member's bytes are decompressed and CRC-checked by ``zipfile.ZipExtFile``. Tar archives are
read front to back with ``tarfile`` in stream mode (gzip decompressed here, so the
header-size guard below sees uncompressed bytes), so a forward-only stream is enough.

Rules, checked in this order for every non-directory entry:

- ``too_many_members``: entries from seq ``max_members`` on. One ``Skipped`` is yielded for
  the first of them (its reason says how many were left out where the format tells) and
  iteration stops.
- ``archive_too_large``: the declared uncompressed sizes of all entries so far, this one
  included (skipped ones too: a tar stream has to be read through them all the same), pass
  ``max_total_bytes``. One ``Skipped`` for this entry and iteration stops.
- ``unsafe_path``, ``duplicate_name`` (second and later uses of a normalized path),
  ``not_a_regular_file``, ``encrypted_member``, ``unsupported_type`` (zip compression methods
  other than stored, deflate, bzip2 and lzma), ``empty_file``, ``member_too_large``,
  ``compression_ratio`` (zip only, and only from ``RATIO_FLOOR_BYTES`` uncompressed, so that
  small, very compressible files such as blank pages are not flagged).
- From the first ``HEAD_BYTES`` of the data: ``corrupt_member`` (unreadable data, bad local
  header), then a ``Member`` if ``shared.media.sniff`` accepts it, else ``nested_archive``
  (zip, tar, gzip, 7z, rar, bzip2, xz, zstd signatures) or ``unsupported_type``.

All checks before the data ones depend on headers only, so resuming with ``start_seq``
reaches the same decisions without reading the data of earlier entries (tar still has to
decompress through it).

Declared sizes can lie: ``Member.stream`` gives exactly the declared size or raises
``MemberLimitExceeded``. Since the declared size already passed ``max_member_bytes`` and the
archive total, the bytes actually read respect both caps.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import lzma
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from shared import media
from shared.errors import CorruptArchive
from shared.media import MediaType

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from shared.settings import Settings

MIB = 1024 * 1024
GIB = 1024 * MIB
HEAD_BYTES = 512
"""Bytes peeked at the start of each member: every signature (tar's at 257) fits."""
RATIO_FLOOR_BYTES = MIB
"""The compression-ratio cap applies to members of at least this many uncompressed bytes."""
MAX_PATH_CHARS = 1024
"""Longest member path kept (``BatchItem.path`` is a 1024-character column)."""
TAR_HEADER_BYTES = MIB
"""Most bytes one tar member's headers (pax records, GNU long names) may take."""
STREAM_BUFFER = 64 * 1024
_TAR_SLACK = 64 * 1024  # read-ahead of tarfile's own buffer
_CD_WINDOW = 64 * 1024

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CD_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_ZIP_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}
_UNIX = 3
_MSDOS = 0
_DRIVE = re.compile(r"^[A-Za-z]:")

_NESTED_SIGNATURES = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

_ZIP_CORRUPT: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
)
_BZIP2_CORRUPT = (*_ZIP_CORRUPT, OSError)  # bz2 reports bad data as a bare OSError
_TAR_CORRUPT: tuple[type[Exception], ...] = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
)


class ByteSource(Protocol):
    """What member data is read from: a decompressing zip or tar member file."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class SkipCode:
    """Why a member is not ingested (plain strings, stored with the batch item)."""

    UNSAFE_PATH = "unsafe_path"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    ENCRYPTED_MEMBER = "encrypted_member"
    DUPLICATE_NAME = "duplicate_name"
    NESTED_ARCHIVE = "nested_archive"
    UNSUPPORTED_TYPE = "unsupported_type"
    EMPTY_FILE = "empty_file"
    MEMBER_TOO_LARGE = "member_too_large"
    COMPRESSION_RATIO = "compression_ratio"
    ARCHIVE_TOO_LARGE = "archive_too_large"
    TOO_MANY_MEMBERS = "too_many_members"
    CORRUPT_MEMBER = "corrupt_member"


class MemberLimitExceeded(Exception):
    """A member broke a limit or proved damaged while being read: skip it with ``code``.

    Not a ``QuireError``: it ends one item, never the batch or the job.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may hold; sizes are uncompressed bytes."""

    max_members: int
    max_member_bytes: int
    max_total_bytes: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveLimits:
        """The limits the settings name (``archive_max_*``)."""
        return cls(
            max_members=settings.archive_max_members,
            max_member_bytes=settings.archive_max_member_mb * MIB,
            max_total_bytes=settings.archive_max_total_gb * GIB,
            max_ratio=settings.archive_max_ratio,
        )


@dataclass
class Member:
    """A file to ingest. ``stream`` is valid only until the iterator advances."""

    seq: int
    path: str
    size: int
    kind: MediaType
    stream: BinaryIO


@dataclass(frozen=True)
class Skipped:
    """A file not ingested, and why."""

    seq: int
    path: str
    code: str
    reason: str


def detect_archive(head: bytes) -> str | None:
    """The archive format whose signature starts ``head``: "zip", "tar", "tar.gz" or None.

    Args:
        head: The first bytes of the file, at least 262 of them (tar's signature is at 257).

    Returns:
        The format; a gzip stream is assumed to hold a tar archive, checked when read.
    """
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def normalize_path(name: str) -> str:
    """A member name as a safe relative path: '/' separators, NFC, no '.' or empty parts.

    Args:
        name: The name stored in the archive.

    Returns:
        The normalized path, e.g. ``./box//a.png`` becomes ``box/a.png``.

    Raises:
        ValueError: With the reason when the name is unsafe: absolute, a drive letter, a
            '..' component, a NUL byte, empty, or longer than ``MAX_PATH_CHARS``.
    """
    if "\x00" in name:
        raise ValueError("the name contains a NUL byte")
    path = unicodedata.normalize("NFC", name.replace("\\", "/"))
    if path.startswith("/"):
        raise ValueError("the path is absolute")
    if _DRIVE.match(path):
        raise ValueError("the path starts with a drive letter")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError("the path has a '..' component")
    path = "/".join(p for p in parts if p not in ("", "."))
    if not path:
        raise ValueError("the name is empty")
    if len(path) > MAX_PATH_CHARS:
        raise ValueError(f"the path is longer than {MAX_PATH_CHARS} characters")
    return path


def iter_entries(
    stream: BinaryIO, kind: str, limits: ArchiveLimits, start_seq: int = 0
) -> Iterator[Member | Skipped]:
    """Every non-directory entry of an archive, in order, as a ``Member`` or a ``Skipped``.

    Args:
        stream: The archive; seekable for zip, forward-only reads suffice for tar.
        kind: "zip", "tar" or "tar.gz" (see ``detect_archive``).
        limits: Caps on members, sizes and compression ratio.
        start_seq: Resume point: entries with a lower seq are not yielded (their names still
            count for duplicates, their data is not read where the format allows).

    Returns:
        An iterator; see the module docstring for the rules and their order.

    Raises:
        CorruptArchive: Now if the archive cannot be opened; during iteration if damage
            further in makes the rest unreadable (a broken central directory record,
            a gzip stream cut short).
        ValueError: For an unknown ``kind`` or a zip stream that cannot seek.
    """
    if kind == "zip":
        return _walk_zip(stream, _find_central_directory(stream), limits, start_seq)
    if kind in ("tar", "tar.gz"):
        archive, guard = _open_tar(stream, kind)
        return _walk_tar(archive, guard, limits, start_seq)
    raise ValueError(f"unknown archive kind: {kind!r}")


class MemberReader(io.RawIOBase):
    """A member's bytes, exactly its declared size: more or fewer raise, damage raises.

    Errors in ``corrupt`` (bad CRC, broken deflate or gzip data, truncated tar) become
    ``MemberLimitExceeded('corrupt_member')``; others (a store outage) pass through.
    """

    def __init__(
        self,
        source: ByteSource,
        declared: int,
        path: str,
        corrupt: tuple[type[Exception], ...] = _TAR_CORRUPT,
    ) -> None:
        super().__init__()
        self._source = source
        self._declared = declared
        self._left = declared
        self._path = path
        self._corrupt = corrupt
        self._head = b""

    def readable(self) -> bool:
        return True

    def peek_head(self, size: int) -> bytes:
        """Read the first ``size`` bytes (fewer for a shorter member); reads still give them."""
        chunks: list[bytes] = []
        got = 0
        while got < size and (data := self._pull(size - got)):
            chunks.append(data)
            got += len(data)
        self._head = b"".join(chunks)
        return self._head

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            data, self._head = self._head[: len(view)], self._head[len(view) :]
        else:
            data = self._pull(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._source.close()
        super().close()

    def _pull(self, size: int) -> bytes:
        if self._left == 0:
            if self._read_source(1):
                raise MemberLimitExceeded(
                    SkipCode.MEMBER_TOO_LARGE,
                    f"{self._path} holds more than its declared {self._declared} bytes",
                )
            return b""
        data = self._read_source(min(size, self._left))
        if not data:
            raise MemberLimitExceeded(
                SkipCode.CORRUPT_MEMBER,
                f"{self._path} ended after {self._declared - self._left} of its declared "
                f"{self._declared} bytes",
            )
        if len(data) > self._left:
            raise MemberLimitExceeded(
                SkipCode.MEMBER_TOO_LARGE,
                f"{self._path} holds more than its declared {self._declared} bytes",
            )
        self._left -= len(data)
        return data

    def _read_source(self, size: int) -> bytes:
        try:
            return self._source.read(size)
        except self._corrupt as e:
            raise MemberLimitExceeded(
                SkipCode.CORRUPT_MEMBER, f"{self._path} is damaged: {e}"
            ) from e


# --- checks shared by both formats ----------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """What the headers say about one non-directory entry."""

    name: str
    size: int
    problem: tuple[str, str] | None = None  # a format-specific refusal: (code, reason)
    packed_size: int | None = None  # compressed size, where the format states it


@dataclass(frozen=True)
class _Verdict:
    seq: int
    path: str
    skipped: Skipped | None = None
    stop: bool = False


class _Screen:
    """The header-only checks, with the state they need across one archive's entries."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self._next_seq = 0
        self._total = 0
        self._seen: set[bytes] = set()  # digests keep memory flat for long paths

    def admit(self, entry: _Candidate, left_out: str) -> _Verdict:
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        path, unsafe = _path_or_reason(entry.name)
        if seq >= self.limits.max_members:
            reason = f"the archive has more than {self.limits.max_members} files; {left_out}"
            return _stop(seq, path, SkipCode.TOO_MANY_MEMBERS, reason)
        self._total += entry.size
        if self._total > self.limits.max_total_bytes:
            reason = (
                f"the archive holds more than {self.limits.max_total_bytes} bytes "
                "uncompressed; this file and all after it were not read"
            )
            return _stop(seq, path, SkipCode.ARCHIVE_TOO_LARGE, reason)
        refusal = (SkipCode.UNSAFE_PATH, f"unsafe name: {unsafe}") if unsafe else self._dup(path)
        refusal = refusal or entry.problem or _size_refusal(entry, self.limits)
        return _Verdict(seq, path, Skipped(seq, path, *refusal) if refusal else None)

    def _dup(self, path: str) -> tuple[str, str] | None:
        digest = hashlib.blake2b(path.encode("utf-8"), digest_size=16).digest()
        if digest in self._seen:
            return SkipCode.DUPLICATE_NAME, "an earlier file in the archive has the same path"
        self._seen.add(digest)
        return None


def _stop(seq: int, path: str, code: str, reason: str) -> _Verdict:
    return _Verdict(seq, path, Skipped(seq, path, code, reason), stop=True)


def _path_or_reason(name: str) -> tuple[str, str | None]:
    """The normalized path, or a printable stand-in and why the name is unsafe."""
    try:
        return normalize_path(name), None
    except ValueError as e:
        shown = unicodedata.normalize("NFC", name.replace("\x00", "\ufffd").replace("\\", "/"))
        return shown[:MAX_PATH_CHARS], str(e)


def _size_refusal(entry: _Candidate, limits: ArchiveLimits) -> tuple[str, str] | None:
    if entry.size == 0:
        return SkipCode.EMPTY_FILE, "the file is empty"
    if entry.size > limits.max_member_bytes:
        return (
            SkipCode.MEMBER_TOO_LARGE,
            f"{entry.size} bytes uncompressed; the limit is {limits.max_member_bytes}",
        )
    packed = entry.packed_size
    if packed is None or entry.size < RATIO_FLOOR_BYTES:
        return None
    if entry.size > limits.max_ratio * packed:
        ratio = entry.size / max(packed, 1)
        return (
            SkipCode.COMPRESSION_RATIO,
            f"compressed {ratio:.0f}:1; the limit is {limits.max_ratio:g}:1",
        )
    return None


def _content_refusal(head: bytes) -> tuple[str, str]:
    """Why a member whose first bytes ``media.sniff`` does not accept is not ingested."""
    nested = next((name for sig, name in _NESTED_SIGNATURES if head.startswith(sig)), None)
    if nested is None and head[257:262] == b"ustar":
        nested = "tar"
    if nested:
        return SkipCode.NESTED_ARCHIVE, f"a {nested} archive inside the archive is not read"
    return SkipCode.UNSUPPORTED_TYPE, "not an image or PDF quire reads"


Opener = Callable[[], tuple[ByteSource, tuple[type[Exception], ...]]]


def _emit(verdict: _Verdict, size: int, open_source: Opener) -> Iterator[Member | Skipped]:
    """Yield the verdict's ``Skipped``, or open and inspect the data and yield the result."""
    if verdict.skipped is not None:
        yield verdict.skipped
        return
    entry = _inspect(verdict, size, open_source)
    try:
        yield entry
    finally:
        if isinstance(entry, Member):
            entry.stream.close()


def _inspect(verdict: _Verdict, size: int, open_source: Opener) -> Member | Skipped:
    seq, path = verdict.seq, verdict.path
    try:
        source, corrupt = open_source()
    except MemberLimitExceeded as e:
        return Skipped(seq, path, e.code, e.reason)
    reader = MemberReader(source, size, path, corrupt)
    try:
        head = reader.peek_head(HEAD_BYTES)
    except MemberLimitExceeded as e:
        reader.close()
        return Skipped(seq, path, e.code, e.reason)
    kind = media.sniff(head)
    if kind is None:
        reader.close()
        return Skipped(seq, path, *_content_refusal(head))
    return Member(seq, path, size, kind, io.BufferedReader(reader, STREAM_BUFFER))


# --- zip ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CentralDirectory:
    start: int  # absolute offset of the first record
    size: int
    entries: int
    concat: int  # bytes in front of the archive (self-extractors); offsets are relative


@dataclass(frozen=True)
class _ZipRecord:
    """One central directory record."""

    name: str
    create_system: int
    flag_bits: int
    method: int
    crc: int
    packed_size: int
    size: int
    external_attr: int
    header_offset: int

    @property
    def unix_mode(self) -> int:
        return self.external_attr >> 16 if self.create_system == _UNIX else 0

    @property
    def is_dir(self) -> bool:
        if self.name.replace("\\", "/").endswith("/") or stat.S_ISDIR(self.unix_mode):
            return True
        return self.create_system == _MSDOS and bool(self.external_attr & 0x10)

    def candidate(self) -> _Candidate:
        return _Candidate(self.name, self.size, self._problem(), self.packed_size)

    def _problem(self) -> tuple[str, str] | None:
        file_type = stat.S_IFMT(self.unix_mode)
        if stat.S_ISLNK(self.unix_mode):
            return SkipCode.NOT_A_REGULAR_FILE, "a symbolic link"
        if file_type and file_type != stat.S_IFREG:
            return SkipCode.NOT_A_REGULAR_FILE, "not a regular file"
        if self.flag_bits & 0x1:
            return SkipCode.ENCRYPTED_MEMBER, "the file is encrypted"
        if self.method not in _ZIP_METHODS:
            reason = f"compression method {self.method} is not supported; use deflate"
            return SkipCode.UNSUPPORTED_TYPE, reason
        return None

    def zipinfo(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path)
        info.compress_type = self.method
        info.flag_bits = self.flag_bits
        info.CRC = self.crc
        info.compress_size = self.packed_size
        info.file_size = self.size
        return info


def _walk_zip(
    stream: BinaryIO, directory: _CentralDirectory, limits: ArchiveLimits, start_seq: int
) -> Iterator[Member | Skipped]:
    screen = _Screen(limits)
    for index, record in enumerate(_zip_records(stream, directory)):
        if record.is_dir:
            continue
        left = directory.entries - index
        verdict = screen.admit(record.candidate(), f"{left} entries (folders included) left out")
        if verdict.seq >= start_seq:
            opener = functools.partial(_open_zip_member, stream, directory, record, verdict.path)
            yield from _emit(verdict, record.size, opener)
        if verdict.stop:
            return


def _find_central_directory(stream: BinaryIO) -> _CentralDirectory:
    """Locate the central directory from the end record (zip64 included)."""
    if not stream.seekable():
        raise ValueError("zip archives are read from a seekable stream")
    total = stream.seek(0, io.SEEK_END)
    tail_start = max(0, total - _EOCD.size - 0xFFFF)
    tail = _read_at(stream, tail_start, total - tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise CorruptArchive("not a zip archive: its end record is missing")
    _, disk, cd_disk, _, entries, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    end_record = tail_start + at
    if _has_zip64_locator(stream, end_record):
        end_record -= _ZIP64_LOCATOR.size + _ZIP64_EOCD.size
        record = _read_at(stream, end_record, _ZIP64_EOCD.size)
        if record[:4] != b"PK\x06\x06":
            raise CorruptArchive("the zip64 end record is damaged")
        _, _, _, _, disk, cd_disk, _, entries, cd_size, cd_offset = _ZIP64_EOCD.unpack(record)
    if disk or cd_disk:
        raise CorruptArchive("multi-volume zip archives are not supported")
    concat = end_record - cd_size - cd_offset
    if concat < 0:
        raise CorruptArchive("the zip central directory lies outside the file")
    start = cd_offset + concat
    if cd_size and _read_at(stream, start, 4) != b"PK\x01\x02":
        raise CorruptArchive("the zip central directory is damaged")
    return _CentralDirectory(start, cd_size, entries, concat)


def _has_zip64_locator(stream: BinaryIO, end_record: int) -> bool:
    if end_record < _ZIP64_LOCATOR.size + _ZIP64_EOCD.size:
        return False
    locator = _read_at(stream, end_record - _ZIP64_LOCATOR.size, _ZIP64_LOCATOR.size)
    return locator[:4] == b"PK\x06\x07"


class _Window:
    """Sequential reads of ``[start, end)`` of a seekable stream, one window at a time."""

    def __init__(self, stream: BinaryIO, start: int, end: int) -> None:
        self._stream = stream
        self._next = start
        self._end = end
        self._buffer = b""
        self._offset = 0

    @property
    def done(self) -> bool:
        return self._offset >= len(self._buffer) and self._next >= self._end

    def take(self, size: int) -> bytes:
        while len(self._buffer) - self._offset < size:
            count = min(max(_CD_WINDOW, size), self._end - self._next)
            chunk = _read_at(self._stream, self._next, count) if count > 0 else b""
            if not chunk:
                raise CorruptArchive("the zip central directory is truncated")
            self._buffer = self._buffer[self._offset :] + chunk
            self._offset = 0
            self._next += len(chunk)
        data = self._buffer[self._offset : self._offset + size]
        self._offset += size
        return data


def _zip_records(stream: BinaryIO, directory: _CentralDirectory) -> Iterator[_ZipRecord]:
    window = _Window(stream, directory.start, directory.start + directory.size)
    while not window.done:
        fields = _CD_RECORD.unpack(window.take(_CD_RECORD.size))
        if fields[0] != b"PK\x01\x02":
            raise CorruptArchive("a zip central directory record is damaged")
        raw_name = window.take(fields[12])
        extra = window.take(fields[13])
        window.take(fields[14])  # comment
        yield _zip_record(fields, raw_name, extra)


def _zip_record(fields: tuple[int | bytes, ...], raw_name: bytes, extra: bytes) -> _ZipRecord:
    values = cast(tuple[int, ...], fields[1:])
    _, system, _, _, flags, method, _, _, crc, packed, size, _, _, _, _, _, attr, offset = values
    size, packed, offset = _zip64_values(extra, (size, packed, offset))
    return _ZipRecord(
        name=_zip_name(raw_name, flags, extra),
        create_system=system,
        flag_bits=flags,
        method=method,
        crc=crc,
        packed_size=packed,
        size=size,
        external_attr=attr,
        header_offset=offset,
    )


def _extra_field(extra: bytes, tag: int) -> bytes | None:
    at = 0
    while at + 4 <= len(extra):
        field_tag, length = struct.unpack_from("<2H", extra, at)
        if field_tag == tag:
            return extra[at + 4 : at + 4 + length]
        at += 4 + length
    return None


def _zip64_values(extra: bytes, values: tuple[int, int, int]) -> tuple[int, int, int]:
    """Size, packed size and offset, each from the zip64 field where it is 0xFFFFFFFF."""
    body = _extra_field(extra, 0x0001) or b""
    wide = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
    size, packed, offset = (next(wide, v) if v == 0xFFFFFFFF else v for v in values)
    return size, packed, offset


def _zip_name(raw: bytes, flags: int, extra: bytes) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    field = _extra_field(extra, 0x7075) or b""  # Info-ZIP: UTF-8 name beside a legacy one
    if (
        len(field) > 5
        and field[0] == 1
        and struct.unpack_from("<L", field, 1)[0] == zlib.crc32(raw)
    ):
        return field[5:].decode("utf-8", "replace")
    return raw.decode("cp437")


def _open_zip_member(
    stream: BinaryIO, directory: _CentralDirectory, record: _ZipRecord, path: str
) -> tuple[ByteSource, tuple[type[Exception], ...]]:
    start = record.header_offset + directory.concat
    header = _read_at(stream, start, _LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise MemberLimitExceeded(SkipCode.CORRUPT_MEMBER, "its local header is missing")
    name_length, extra_length = struct.unpack_from("<2H", header, 26)
    data_start = start + _LOCAL_HEADER.size + name_length + extra_length
    if data_start + record.packed_size > directory.start:
        raise MemberLimitExceeded(SkipCode.CORRUPT_MEMBER, "its data overruns the archive")
    stream.seek(data_start)
    source = zipfile.ZipExtFile(stream, "r", record.zipinfo(path), None, False)
    return source, _BZIP2_CORRUPT if record.method == 12 else _ZIP_CORRUPT


def _read_at(stream: BinaryIO, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset``, short only at the end of the stream."""
    stream.seek(offset)
    chunks: list[bytes] = []
    got = 0
    while got < size and (data := stream.read(size - got)):
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


# --- tar ------------------------------------------------------------------------------------


class _HeaderTooLarge(Exception):
    pass


_TAR_READ_ERRORS: tuple[type[Exception], ...] = (*_TAR_CORRUPT, _HeaderTooLarge)


class _ScanGuard(io.RawIOBase):
    """Counts the bytes handed to tarfile and caps what one member's headers may take.

    tarfile reads a pax header or a GNU long name whole into memory, whatever size it
    claims; capping the bytes read while headers are parsed caps that memory.
    """

    def __init__(self, source: ByteSource) -> None:
        super().__init__()
        self._source = source
        self.position = 0
        self.ceiling: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        view[: len(data)] = data
        self.position += len(data)
        if self.ceiling is not None and self.position > self.ceiling:
            raise _HeaderTooLarge(f"a member's headers take more than {TAR_HEADER_BYTES} bytes")
        return len(data)


def _open_tar(stream: BinaryIO, kind: str) -> tuple[tarfile.TarFile, _ScanGuard]:
    source: ByteSource = gzip.GzipFile(fileobj=stream, mode="rb") if kind == "tar.gz" else stream
    guard = _ScanGuard(source)
    guard.ceiling = TAR_HEADER_BYTES + _TAR_SLACK
    try:
        # Closed by _walk_tar once iteration ends; it never closes the caller's stream.
        archive = tarfile.open(  # noqa: SIM115
            fileobj=cast(IO[bytes], guard), mode="r|", encoding="utf-8"
        )
    except _TAR_READ_ERRORS as e:
        raise CorruptArchive(f"not a readable {kind} archive: {e}") from e
    return archive, guard


def _next_tar_header(archive: tarfile.TarFile, guard: _ScanGuard) -> tarfile.TarInfo | None:
    guard.ceiling = archive.offset + TAR_HEADER_BYTES + _TAR_SLACK
    try:
        info = archive.next()
    except _TAR_READ_ERRORS as e:
        raise CorruptArchive(f"the tar archive is damaged: {e}") from e
    guard.ceiling = None
    cast(Any, archive).members.clear()  # stream mode would otherwise keep every header read
    return info


def _walk_tar(
    archive: tarfile.TarFile, guard: _ScanGuard, limits: ArchiveLimits, start_seq: int
) -> Iterator[Member | Skipped]:
    screen = _Screen(limits)
    with archive:
        while (info := _next_tar_header(archive, guard)) is not None:
            if info.isdir():
                continue
            verdict = screen.admit(_tar_candidate(info), "the rest of the archive was not read")
            if verdict.seq >= start_seq:
                opener = functools.partial(_open_tar_member, archive, info)
                yield from _emit(verdict, info.size, opener)
            if verdict.stop:
                return


def _tar_candidate(info: tarfile.TarInfo) -> _Candidate:
    problem = None
    if not info.isreg():
        problem = (SkipCode.NOT_A_REGULAR_FILE, f"a {_tar_type(info)}, not a regular file")
    return _Candidate(_repair_name(info.name), info.size, problem)


def _tar_type(info: tarfile.TarInfo) -> str:
    kinds = {
        tarfile.SYMTYPE: "symbolic link",
        tarfile.LNKTYPE: "hard link",
        tarfile.CHRTYPE: "character device",
        tarfile.BLKTYPE: "block device",
        tarfile.FIFOTYPE: "FIFO",
    }
    return kinds.get(info.type, f"entry of type {info.type!r}")


def _repair_name(name: str) -> str:
    """Bytes that are not UTF-8 (kept by tarfile as lone surrogates) become U+FFFD."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _open_tar_member(
    archive: tarfile.TarFile, info: tarfile.TarInfo
) -> tuple[ByteSource, tuple[type[Exception], ...]]:
    source = archive.extractfile(info)
    if source is None:  # only regular files get this far
        raise MemberLimitExceeded(SkipCode.NOT_A_REGULAR_FILE, "not a regular file")
    return source, _TAR_CORRUPT
