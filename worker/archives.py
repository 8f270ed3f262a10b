"""Read uploaded archives one member at a time, safely, in bounded memory, through libarchive.

``iter_entries`` yields, in archive order, a ``Member`` for each file to ingest and a
``Skipped`` (with a stable ``code`` and a human ``reason``) for each file refused. Nothing is
extracted to disk. Directories are not entries.

Every format is parsed by libarchive (``worker.libarchive_reader``): zip (zip64, data
descriptors, CP437 and UTF-8 names, deflate, bzip2, lzma, xz, zstd), 7z, RAR 4 and 5, and tar
plain or compressed with gzip, bzip2, xz or zstd. Zip and 7z are read with ranged reads
(their directory is at the end); tar streams front to back, so a forward-only stream is
enough for them. libarchive refuses a tar member whose headers (pax records, GNU long names)
take more than 1 MiB, so headers never fill memory either.

Rules, checked in this order for every non-directory entry:

- ``too_many_members``: entries from seq ``max_members`` on. One ``Skipped`` is yielded for
  the first of them and iteration stops.
- ``archive_too_large``: the declared uncompressed sizes of all entries so far, this one
  included (skipped ones too: a tar stream has to be read through them all the same), pass
  ``max_total_bytes``. One ``Skipped`` for this entry and iteration stops.
- ``unsafe_path``, ``duplicate_name`` (second and later uses of a normalized path),
  ``not_a_regular_file`` (links, devices, FIFOs), ``encrypted_member`` (zip ZipCrypto or AES,
  7z and RAR with a password), ``empty_file``, ``member_too_large``.
- From the first ``HEAD_BYTES`` of the data: ``unsupported_type`` (a compression method
  libarchive does not read), ``encrypted_member`` (found only then), ``corrupt_member``
  (unreadable data, a bad checksum), then a ``Member`` if ``shared.media.sniff`` accepts it,
  else ``nested_archive`` (zip, tar, gzip, 7z, rar, bzip2, xz, zstd signatures) or
  ``unsupported_type``.

All checks before the data ones depend on headers only, so resuming with ``start_seq``
reaches the same decisions without reading the data of earlier entries (zip and 7z seek past
it; a tar stream still has to be read through it).

Declared sizes can lie: ``Member.stream`` gives exactly the declared size or raises
``MemberLimitExceeded``. Since the declared size already passed ``max_member_bytes`` and the
archive total, the bytes actually read respect both caps. The stream also raises
``MemberLimitExceeded('compression_ratio')`` once a member of at least ``RATIO_FLOOR_BYTES``
has come out more than ``max_ratio`` times larger than the archive bytes read for it (for
7z and RAR, whose members share compressed streams, the whole archive's bytes so far): a
decompression bomb stops a few MiB in, whatever its headers claim.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Protocol

from shared import media
from shared.errors import CorruptArchive, DuplicateContent
from shared.media import MediaType
from worker.libarchive_reader import (
    FORMATS,
    ArchiveDamaged,
    DataDamaged,
    Header,
    LibArchive,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from shared.settings import Settings

MIB = 1024 * 1024
GIB = 1024 * MIB
HEAD_BYTES = 512
"""Bytes peeked at the start of each member: every signature (tar's at 257) fits."""
RATIO_FLOOR_BYTES = MIB
"""The compression-ratio cap applies once a member has given this many bytes, so that small,
very compressible files such as blank pages are never flagged."""
MAX_PATH_CHARS = 1024
"""Longest member path kept (``BatchItem.path`` is a 1024-character column)."""
STREAM_BUFFER = 64 * 1024
SEEKING_KINDS = frozenset({"zip", "7z"})
"""Formats whose directory is at the end: read from a seekable stream."""
SHARED_STREAM_KINDS = frozenset({"7z", "rar"})
"""Formats whose members may share one compressed stream (solid archives)."""
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


class ByteSource(Protocol):
    """What member data is read from."""

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
    # Given by ingest, not here: the tenant uploaded the same bytes before (on_duplicate=reject).
    DUPLICATE_CONTENT = DuplicateContent.code


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
    """The archive kind whose signature starts ``head`` (see ``shared.media.sniff_archive``).

    Args:
        head: The first bytes of the file, at least 262 of them (tar's signature is at 257).

    Returns:
        One of ``shared.media.ARCHIVE_KINDS``, or None; a compressed stream is assumed to
        hold a tar archive, checked when read.
    """
    return media.sniff_archive(head)


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
        stream: The archive; seekable for zip and 7z, forward-only reads suffice otherwise.
        kind: One of ``shared.media.ARCHIVE_KINDS`` (see ``detect_archive``).
        limits: Caps on members, sizes and compression ratio.
        start_seq: Resume point: entries with a lower seq are not yielded (their names still
            count for duplicates, their data is not read where the format allows).

    Returns:
        An iterator; see the module docstring for the rules and their order.

    Raises:
        CorruptArchive: Now if the archive cannot be opened; during iteration if damage
            further in makes the rest unreadable (a broken directory record, a compressed
            stream cut short).
        ValueError: For an unknown ``kind``, or a zip or 7z stream that cannot seek.
        LibArchiveMissing: When the libarchive library is not installed.
    """
    if kind not in FORMATS:
        raise ValueError(f"unknown archive kind: {kind!r}")
    if kind in SEEKING_KINDS and not stream.seekable():
        raise ValueError(f"{kind} archives are read from a seekable stream")
    try:
        archive = LibArchive(stream, kind)
    except ArchiveDamaged as e:
        raise CorruptArchive(f"not a readable {kind} archive: {_detail(e)}") from e
    try:  # the first header now: zip and 7z read their whole directory for it
        first = _next_header(archive, kind)
    except BaseException:
        archive.close()
        raise
    return _walk(archive, first, kind, limits, start_seq)


class MemberReader(io.RawIOBase):
    """A member's bytes, exactly its declared size: more or fewer raise, damage raises.

    ``DataDamaged`` from libarchive becomes ``MemberLimitExceeded`` (``corrupt_member``, or
    ``unsupported_type`` for a method libarchive lacks); other errors (a store outage) pass
    through. ``ratio``, given the bytes read so far, says how many times larger they are than
    the archive bytes behind them; past ``max_ratio`` (from ``RATIO_FLOOR_BYTES`` read on) the
    read raises ``compression_ratio``.
    """

    def __init__(
        self,
        source: ByteSource,
        declared: int,
        path: str,
        ratio: Callable[[int], float] | None = None,
        max_ratio: float = 0.0,
    ) -> None:
        super().__init__()
        self._source = source
        self._declared = declared
        self._left = declared
        self._path = path
        self._ratio = ratio
        self._max_ratio = max_ratio
        self._head = b""

    def readable(self) -> bool:
        return True

    @property
    def left(self) -> int:
        """Declared bytes not read from the source yet."""
        return self._left

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
        self._check_ratio(self._declared - self._left)
        return data

    def _check_ratio(self, produced: int) -> None:
        if self._ratio is None or produced < RATIO_FLOOR_BYTES:
            return
        ratio = self._ratio(produced)
        if ratio > self._max_ratio:
            raise MemberLimitExceeded(
                SkipCode.COMPRESSION_RATIO,
                f"compressed {ratio:.0f}:1; the limit is {self._max_ratio:g}:1",
            )

    def _read_source(self, size: int) -> bytes:
        try:
            return self._source.read(size)
        except DataDamaged as e:
            code = SkipCode.UNSUPPORTED_TYPE if e.unsupported else SkipCode.CORRUPT_MEMBER
            if "passphrase" in str(e).lower():
                code = SkipCode.ENCRYPTED_MEMBER
            raise MemberLimitExceeded(code, f"{self._path}: {_detail(e)}") from e


# --- the header-only checks -----------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """What the headers say about one non-directory entry."""

    name: str
    size: int
    problem: tuple[str, str] | None = None  # a refusal from the header: (code, reason)


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

    def admit(self, entry: _Candidate) -> _Verdict:
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        path, unsafe = _path_or_reason(entry.name)
        if seq >= self.limits.max_members:
            reason = (
                f"the archive has more than {self.limits.max_members} files; "
                "the rest of the archive was not read"
            )
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
    return None


def _candidate(header: Header) -> _Candidate:
    problem = None
    if header.kind != "file":
        problem = (SkipCode.NOT_A_REGULAR_FILE, f"a {header.kind}, not a regular file")
    elif header.encrypted:
        problem = (SkipCode.ENCRYPTED_MEMBER, "the file is encrypted")
    elif header.size is None:
        problem = (SkipCode.CORRUPT_MEMBER, "the archive does not say how large the file is")
    return _Candidate(header.name, header.size or 0, problem)


def _content_refusal(head: bytes) -> tuple[str, str]:
    """Why a member whose first bytes ``media.sniff`` does not accept is not ingested."""
    nested = next((name for sig, name in _NESTED_SIGNATURES if head.startswith(sig)), None)
    if nested is None and head[257:262] == b"ustar":
        nested = "tar"
    if nested:
        return SkipCode.NESTED_ARCHIVE, f"a {nested} archive inside the archive is not read"
    return SkipCode.UNSUPPORTED_TYPE, "not an image or PDF quire reads"


def _detail(error: Exception) -> str:
    """libarchive's own words, without this module's "the archive ...:" lead."""
    text = str(error)
    return text.split(": ", 1)[1] if text.startswith("the archive ") and ": " in text else text


# --- walking the archive --------------------------------------------------------------------


class _EntryData:
    """The current entry's data as a ``ByteSource``; closing it leaves the archive open."""

    def __init__(self, archive: LibArchive) -> None:
        self._archive = archive

    def read(self, size: int = -1, /) -> bytes:
        return self._archive.read(size if size >= 0 else STREAM_BUFFER)

    def close(self) -> None:
        pass


class _Ratio:
    """How many times larger a member's bytes are than the archive bytes read for them."""

    def __init__(self, archive: LibArchive, shared_stream: bool) -> None:
        self._archive = archive
        self._shared = shared_stream
        self._produced_before = 0  # bytes of earlier members read, for shared streams
        self._start = 0

    def begin(self) -> Callable[[int], float]:
        self._start = self._archive.consumed
        return self._of

    def end(self, produced: int) -> None:
        self._produced_before += produced

    def _of(self, produced: int) -> float:
        if self._shared:  # members share compressed streams: judge the archive so far
            return (self._produced_before + produced) / max(self._archive.raw_bytes, 1)
        return produced / max(self._archive.consumed - self._start, 1)


def _walk(
    archive: LibArchive, first: Header | None, kind: str, limits: ArchiveLimits, start_seq: int
) -> Iterator[Member | Skipped]:
    screen = _Screen(limits)
    ratio = _Ratio(archive, kind in SHARED_STREAM_KINDS)
    header = first
    with archive:
        while header is not None:
            if header.kind == "directory":
                header = _next_header(archive, kind)
                continue
            verdict = screen.admit(_candidate(header))
            if verdict.seq >= start_seq:
                size = header.size or 0
                opener = functools.partial(_open_member, archive, ratio, limits.max_ratio)
                yield from _emit(verdict, size, opener, ratio)
            if verdict.stop:
                return
            header = _next_header(archive, kind)


def _next_header(archive: LibArchive, kind: str) -> Header | None:
    try:
        return archive.next_header()
    except ArchiveDamaged as e:
        raise CorruptArchive(f"the {kind} archive is damaged: {_detail(e)}") from e


Opener = Callable[[str, int], MemberReader]


def _open_member(
    archive: LibArchive, ratio: _Ratio, max_ratio: float, path: str, size: int
) -> MemberReader:
    return MemberReader(_EntryData(archive), size, path, ratio.begin(), max_ratio)


def _emit(
    verdict: _Verdict, size: int, open_member: Opener, ratio: _Ratio
) -> Iterator[Member | Skipped]:
    """Yield the verdict's ``Skipped``, or open and inspect the data and yield the result."""
    if verdict.skipped is not None:
        yield verdict.skipped
        return
    reader = open_member(verdict.path, size)
    entry = _inspect(verdict, size, reader)
    try:
        yield entry
    finally:
        ratio.end(size - reader.left)
        if isinstance(entry, Member):
            entry.stream.close()


def _inspect(verdict: _Verdict, size: int, reader: MemberReader) -> Member | Skipped:
    seq, path = verdict.seq, verdict.path
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
