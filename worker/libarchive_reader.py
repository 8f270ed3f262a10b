"""libarchive (the library behind bsdtar) reading an archive from a Python stream.

``LibArchive`` hands libarchive a stream through read and seek callbacks, so an archive in
the object store is read with ranged reads where the format seeks (zip's and 7z's directory
at the end) and front to back where it does not (tar streams); nothing goes to disk, and
only libarchive's own buffers and one block of the stream are in memory. It yields entry
headers one at a time and reads the current entry's data in blocks.

The library is found by libarchive-c (``LIBARCHIVE`` names another build); the calls this
module makes are declared here on their own function objects, so that libarchive-c's error
checks (which log warnings and return partial reads) do not apply to them.
"""

from __future__ import annotations

import ctypes
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO

OK, EOF, RETRY, WARN, FAILED, FATAL = 0, 1, -10, -20, -25, -30
BLOCK_BYTES = 16 * 1024
"""Bytes handed to libarchive per read callback: the stream's read-ahead, so also what
reading one zip or 7z header after a seek costs."""
FIRST_READ_BYTES = 1024
"""Bytes read first after a seek: most seeks land on a header that needs a few bytes."""

FORMATS: dict[str, tuple[Sequence[str], Sequence[str]]] = {
    # kind: (libarchive formats, libarchive filters)
    "zip": (("zip_seekable",), ()),  # the central directory decides, never local headers
    "tar": (("tar",), ()),
    "tar.gz": (("tar",), ("gzip",)),
    "tar.bz2": (("tar",), ("bzip2",)),
    "tar.xz": (("tar",), ("xz",)),
    "tar.zst": (("tar",), ("zstd",)),
    "7z": (("7zip",), ()),
    "rar": (("rar", "rar5"), ()),
}
"""What each archive kind quire accepts is read with; nothing else is enabled for it."""


class LibArchiveMissing(RuntimeError):
    """The libarchive shared library cannot be loaded (install ``libarchive13``)."""


class ArchiveDamaged(Exception):
    """libarchive cannot go on reading the archive (or, with ``entry_only``, this entry)."""

    def __init__(self, message: str, *, entry_only: bool = False) -> None:
        super().__init__(message)
        self.entry_only = entry_only


class DataDamaged(Exception):
    """The current entry's data cannot be read; ``unsupported`` for a method libarchive lacks."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.unsupported = unsupported


_KINDS = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}


@dataclass(frozen=True)
class Header:
    """One entry as its headers describe it."""

    name: str  # as stored: UTF-8, or undecodable bytes replaced by U+FFFD
    size: int | None  # uncompressed bytes; None where the headers do not say
    kind: str  # "file", "directory", "symbolic link", "hard link", a device, ...
    encrypted: bool


_READ_CB = ctypes.CFUNCTYPE(
    ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)
)
_SEEK_CB = ctypes.CFUNCTYPE(
    ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int
)
_SKIP_CB = ctypes.CFUNCTYPE(ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong)
_OPEN_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_CLOSE_CB = _OPEN_CB


class _Api:
    """The libarchive functions used here, declared once per process."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, i, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        self.version = self._fn(lib, "archive_version_number", [], i)
        self.read_new = self._fn(lib, "archive_read_new", [], vp)
        self.read_free = self._fn(lib, "archive_read_free", [vp], i)
        self.set_seek = self._fn(lib, "archive_read_set_seek_callback", [vp, _SEEK_CB], i)
        self.set_skip = self._fn(lib, "archive_read_set_skip_callback", [vp, _SKIP_CB], i)
        self.open = self._fn(lib, "archive_read_open", [vp, vp, _OPEN_CB, _READ_CB, _CLOSE_CB], i)
        self.next_header = self._fn(lib, "archive_read_next_header", [vp, ctypes.POINTER(vp)], i)
        self.read_data = self._fn(lib, "archive_read_data", [vp, vp, sz], ctypes.c_ssize_t)
        self.error_string = self._fn(lib, "archive_error_string", [vp], ctypes.c_char_p)
        self.set_options = self._fn(lib, "archive_read_set_options", [vp, ctypes.c_char_p], i)
        self.pathname = self._fn(lib, "archive_entry_pathname", [vp], ctypes.c_char_p)
        self.pathname_utf8 = self._fn(lib, "archive_entry_pathname_utf8", [vp], ctypes.c_char_p)
        self.hardlink = self._fn(lib, "archive_entry_hardlink", [vp], ctypes.c_char_p)
        self.filetype = self._fn(lib, "archive_entry_filetype", [vp], ctypes.c_uint)
        self.size_is_set = self._fn(lib, "archive_entry_size_is_set", [vp], i)
        self.size = self._fn(lib, "archive_entry_size", [vp], ctypes.c_longlong)
        self.is_encrypted = self._fn(lib, "archive_entry_is_encrypted", [vp], i)
        self.filter_bytes = self._fn(lib, "archive_filter_bytes", [vp, i], ctypes.c_longlong)
        self.support: dict[str, Any] = {}
        for name in {n for formats, filters in FORMATS.values() for n in (*formats, *filters)}:
            kind = "filter" if name in ("gzip", "bzip2", "xz", "zstd") else "format"
            self.support[name] = self._fn(lib, f"archive_read_support_{kind}_{name}", [vp], i)

    @staticmethod
    def _fn(lib: ctypes.CDLL, name: str, args: list[type], result: type | None) -> Any:
        function = lib[name]  # a fresh function object: libarchive-c's declarations stay theirs
        function.argtypes = args
        function.restype = result
        return function


_api: _Api | None = None


def api() -> _Api:
    """The loaded library; ``LibArchiveMissing`` with what to install when it cannot load."""
    global _api
    if _api is None:
        try:
            from libarchive import ffi  # loads the shared library on import
        except (ImportError, OSError, AttributeError) as e:
            raise LibArchiveMissing(
                f"libarchive cannot be loaded ({e}); install the system library "
                "(Debian: apt-get install libarchive13) and the libarchive-c package"
            ) from e
        _api = _Api(ffi.libarchive)
    return _api


def library_version() -> str:
    """libarchive's version, e.g. "3.6.2"; raises ``LibArchiveMissing``."""
    number = api().version()
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


class LibArchive:
    """One archive open for reading; a context manager. Entries come in archive order.

    Args:
        stream: The archive. When it can seek, libarchive may seek (zip and 7z need to).
        kind: A key of ``FORMATS``: only that format and filter are enabled.
        block_bytes: Bytes read from ``stream`` per callback.

    Raises:
        ArchiveDamaged: When libarchive cannot open the archive.
    """

    def __init__(self, stream: BinaryIO, kind: str, block_bytes: int = BLOCK_BYTES) -> None:
        formats, filters = FORMATS[kind]
        self._api = api()
        self._stream = stream
        self._buffer = ctypes.create_string_buffer(block_bytes)
        self._view = memoryview(self._buffer).cast("B")[:block_bytes]
        self._out = ctypes.create_string_buffer(block_bytes)  # data read out (never _buffer:
        # libarchive still points into the block it was handed)
        self._error: BaseException | None = None
        self._sought = False
        self.raw_bytes = 0
        """Bytes read from the stream so far."""
        self._read_cb = _READ_CB(self._on_read)
        self._seek_cb = _SEEK_CB(self._on_seek)
        self._skip_cb = _SKIP_CB(self._on_skip)
        self._open_cb = _OPEN_CB(lambda _a, _c: OK)
        self._close_cb = _CLOSE_CB(lambda _a, _c: OK)
        self._entry = ctypes.c_void_p()
        self._handle = self._api.read_new()
        if not self._handle:
            raise MemoryError("libarchive could not allocate a reader")
        try:
            for name in (*filters, *formats):
                self._api.support[name](self._handle)
            if kind == "zip":
                # Names without the UTF-8 flag are CP437, as the zip specification says.
                self._api.set_options(self._handle, b"zip:hdrcharset=CP437")
            if stream.seekable():
                self._api.set_seek(self._handle, self._seek_cb)
                self._api.set_skip(self._handle, self._skip_cb)
            status = self._api.open(
                self._handle, None, self._open_cb, self._read_cb, self._close_cb
            )
            if status != OK:
                raise ArchiveDamaged(self._message("cannot be opened"))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LibArchive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._handle:
            self._api.read_free(self._handle)
            self._handle = None

    def next_header(self) -> Header | None:
        """The next entry's header, or None at the end of the archive.

        Raises:
            ArchiveDamaged: The archive cannot be read further (``entry_only``: this entry's
                header is unreadable but the next may be).
            Exception: Whatever the stream raised (a store outage), as it was raised.
        """
        status = self._api.next_header(self._handle, ctypes.byref(self._entry))
        self._raise_stream_error()
        if status == EOF:
            return None
        if status in (OK, WARN):
            return self._header()
        raise ArchiveDamaged(self._message("is damaged"), entry_only=status == FAILED)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the current entry's data; b"" at its end.

        Raises:
            DataDamaged: The data cannot be decompressed, fails its checksum, or uses a
                method libarchive does not read.
            Exception: Whatever the stream raised, as it was raised.
        """
        size = min(size, len(self._out))
        got = self._api.read_data(self._handle, self._out, size)
        self._raise_stream_error()
        if got >= 0:
            return self._out.raw[:got]
        message = self._message("cannot be read")
        lowered = message.lower()
        unsupported = "unsupported" in lowered or "not supported" in lowered
        raise DataDamaged(message, unsupported=unsupported and "encrypt" not in lowered)

    @property
    def consumed(self) -> int:
        """Bytes of the stream libarchive has used so far (seeks included): a position."""
        return int(self._api.filter_bytes(self._handle, -1))

    def _header(self) -> Header:
        entry = self._entry
        raw = self._api.pathname_utf8(entry) or self._api.pathname(entry) or b""
        if self._api.hardlink(entry):
            kind = "hard link"
        else:
            kind = _KINDS.get(stat.S_IFMT(self._api.filetype(entry)), "file")
        size = self._api.size(entry) if self._api.size_is_set(entry) else None
        return Header(
            name=raw.decode("utf-8", "replace"),
            size=size,
            kind=kind,
            encrypted=self._api.is_encrypted(entry) > 0,
        )

    def _message(self, what: str) -> str:
        text = self._api.error_string(self._handle)
        detail = text.decode("utf-8", "replace") if text else "no reason given"
        return f"the archive {what}: {detail}"

    def _raise_stream_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # --- callbacks: never raise into C; the error is kept and raised after the call ------------

    def _on_read(self, _archive: int, _context: int, pointer: ctypes._Pointer) -> int:
        try:
            view = self._view[:FIRST_READ_BYTES] if self._sought else self._view
            self._sought = False
            got = self._stream.readinto(view)  # type: ignore[attr-defined]
        except BaseException as e:  # re-raised once libarchive returns
            self._error = e
            return FATAL
        got = got or 0
        self.raw_bytes += got
        pointer[0] = ctypes.cast(self._buffer, ctypes.c_void_p).value
        return got

    def _on_skip(self, _archive: int, _context: int, request: int) -> int:
        # Skipping data (a member not read, a member resumed past) moves the stream instead
        # of reading through it.
        try:
            here = self._stream.tell()
            end = self._stream.seek(0, 2)
            target = min(here + request, end)
            self._stream.seek(target)
            self._sought = True
            return target - here
        except BaseException as e:  # re-raised once libarchive returns
            self._error = e
            return FATAL

    def _on_seek(self, _archive: int, _context: int, offset: int, whence: int) -> int:
        try:
            self._sought = True
            return self._stream.seek(offset, whence)
        except BaseException as e:  # re-raised once libarchive returns
            self._error = e
            return FATAL
