"""Receive a multipart/form-data body as a stream: the file part is spooled (memory up to
1 MiB, then a temporary file), counted and hashed (SHA-256) as it arrives, so an oversized
upload is refused at the limit instead of after it has been read whole, and its content hash
(duplicate detection) needs no second pass over it."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shared.errors import InvalidRequest, UnsupportedMediaType, UploadTooLarge
from shared.filenames import clean_filename
from shared.media import ARCHIVE_SNIFF_BYTES

SPOOL_IN_MEMORY = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
# Enough for every sniffer: a plain tar's magic sits at offset 257.
HEAD_BYTES = ARCHIVE_SNIFF_BYTES


@dataclass
class ReceivedFile:
    """The file part of a form, spooled; ``head`` holds its first bytes for sniffing."""

    spool: IO[bytes]
    filename: str
    size: int = 0
    head: bytes = b""
    digest: Any = field(default_factory=hashlib.sha256, repr=False)

    @property
    def content_sha256(self) -> str:
        """SHA-256 (hex) of the bytes received so far: the whole file once the form is read."""
        return str(self.digest.hexdigest())


@dataclass
class ReceivedForm:
    """The parts of a form: at most one ``file``, repeated ``files`` where the form allows
    them, and small text fields."""

    file: ReceivedFile | None = None
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        for received in [self.file, *self.files]:
            if received is not None:
                received.spool.close()


@dataclass
class FormLimits:
    """Limits that keep a form from exhausting memory or disk."""

    max_file_bytes: int
    file_field: str = "file"
    repeated_file_field: str | None = None  # e.g. "files": several files, each a part
    max_files: int = 1
    max_field_bytes: int = 64 * 1024
    max_fields: int = 16


class _FormCollector:
    """Callbacks for python-multipart's streaming parser."""

    def __init__(self, limits: FormLimits) -> None:
        self.limits = limits
        self.form = ReceivedForm()
        self.finished = False
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._buffer: bytearray | None = None
        self._to_file = False
        self._current: ReceivedFile | None = None
        self._total = 0

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._append_header("_header_field", d[s:e]),
            "on_header_value": lambda d, s, e: self._append_header("_header_value", d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _append_header(self, attr: str, chunk: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + bytes(chunk))

    def _part_begin(self) -> None:
        self._headers, self._buffer, self._to_file = {}, None, False

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self._name == self.limits.file_field:
            if self.form.file is not None:
                raise InvalidRequest(f"send one '{self.limits.file_field}' part only")
            self.form.file = self._new_file(filename)
        elif self._name and self._name == self.limits.repeated_file_field:
            if len(self.form.files) >= self.limits.max_files:
                raise InvalidRequest(f"send at most {self.limits.max_files} files")
            self.form.files.append(self._new_file(filename))
        elif filename is not None:
            raise InvalidRequest(f"unexpected file part {self._name!r}")
        else:
            if len(self.form.fields) >= self.limits.max_fields:
                raise InvalidRequest("too many form fields")
            self._buffer = bytearray()

    def _new_file(self, filename: bytes | None) -> ReceivedFile:
        name = clean_filename((filename or b"").decode("utf-8", "replace"))
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by ReceivedForm.close
        self._current, self._to_file = ReceivedFile(spool=spool, filename=name), True
        return self._current

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._to_file and self._current is not None:
            self._write_file(chunk)
        elif self._buffer is not None:
            self._buffer.extend(chunk)
            if len(self._buffer) > self.limits.max_field_bytes:
                raise InvalidRequest(
                    f"form field {self._name!r} exceeds {self.limits.max_field_bytes} bytes"
                )

    def _write_file(self, chunk: bytes) -> None:
        received = self._current
        assert received is not None
        received.size += len(chunk)
        self._total += len(chunk)
        if max(received.size, self._total) > self.limits.max_file_bytes:
            raise UploadTooLarge(
                f"the file exceeds the limit of {self.limits.max_file_bytes} bytes",
                limit_bytes=self.limits.max_file_bytes,
            )
        if len(received.head) < HEAD_BYTES:
            received.head = (received.head + bytes(chunk))[:HEAD_BYTES]
        received.digest.update(chunk)
        received.spool.write(chunk)

    def _part_end(self) -> None:
        if self._buffer is not None:
            try:
                self.form.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidRequest(f"form field {self._name!r} is not UTF-8") from e
        self._buffer, self._to_file, self._current = None, False, None

    def _end(self) -> None:
        self.finished = True


def _boundary(request: Request) -> bytes:
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise UnsupportedMediaType("send the file as multipart/form-data")
    return options[b"boundary"]


def _check_declared_length(request: Request, limits: FormLimits) -> None:
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isdigit()
        and int(declared) > limits.max_file_bytes + MULTIPART_OVERHEAD
    ):
        raise UploadTooLarge(
            f"the request declares {declared} bytes; the file limit is {limits.max_file_bytes}",
            limit_bytes=limits.max_file_bytes,
        )


async def receive_form(request: Request, limits: FormLimits) -> ReceivedForm:
    """Parse the request body as it streams in, enforcing ``limits``.

    Raises:
        UnsupportedMediaType: the body is not multipart/form-data.
        UploadTooLarge: the file part exceeds ``limits.max_file_bytes``.
        InvalidRequest: the body is malformed or breaks a field limit.
    """
    boundary = _boundary(request)
    _check_declared_length(request, limits)
    collector = _FormCollector(limits)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as e:
        collector.form.close()
        raise InvalidRequest(f"malformed multipart body: {e}") from e
    except BaseException:
        collector.form.close()
        raise
    if not collector.finished:
        collector.form.close()
        raise InvalidRequest("the multipart body ended early")
    for received in [collector.form.file, *collector.form.files]:
        if received is not None:
            received.spool.seek(0)
    return collector.form
