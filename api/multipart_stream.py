"""Receive a multipart/form-data body as a stream: the file part is spooled (memory up to
1 MiB, then a temporary file) and counted as it arrives, so an oversized upload is refused
at the limit instead of after it has been read whole."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from shared.errors import InvalidRequest, UnsupportedMediaType, UploadTooLarge

SPOOL_IN_MEMORY = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
HEAD_BYTES = 64


@dataclass
class ReceivedFile:
    """The file part of a form, spooled; ``head`` holds its first bytes for sniffing."""

    spool: IO[bytes]
    filename: str
    size: int = 0
    head: bytes = b""


@dataclass
class ReceivedForm:
    """The parts of a form: at most one file, and small text fields."""

    file: ReceivedFile | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        if self.file is not None:
            self.file.spool.close()


@dataclass
class FormLimits:
    """Limits that keep a form from exhausting memory or disk."""

    max_file_bytes: int
    file_field: str = "file"
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
            name = (filename or b"").decode("utf-8", "replace")
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by ReceivedForm.close
            self.form.file = ReceivedFile(spool=spool, filename=name)
            self._to_file = True
        elif filename is not None:
            raise InvalidRequest(f"unexpected file part {self._name!r}")
        else:
            if len(self.form.fields) >= self.limits.max_fields:
                raise InvalidRequest("too many form fields")
            self._buffer = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._to_file and self.form.file is not None:
            self._write_file(chunk)
        elif self._buffer is not None:
            self._buffer.extend(chunk)
            if len(self._buffer) > self.limits.max_field_bytes:
                raise InvalidRequest(
                    f"form field {self._name!r} exceeds {self.limits.max_field_bytes} bytes"
                )

    def _write_file(self, chunk: bytes) -> None:
        received = self.form.file
        assert received is not None
        received.size += len(chunk)
        if received.size > self.limits.max_file_bytes:
            raise UploadTooLarge(
                f"the file exceeds the limit of {self.limits.max_file_bytes} bytes",
                limit_bytes=self.limits.max_file_bytes,
            )
        if len(received.head) < HEAD_BYTES:
            received.head = (received.head + bytes(chunk))[:HEAD_BYTES]
        received.spool.write(chunk)

    def _part_end(self) -> None:
        if self._buffer is not None:
            try:
                self.form.fields[self._name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidRequest(f"form field {self._name!r} is not UTF-8") from e
        self._buffer, self._to_file = None, False

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
    if collector.form.file is not None:
        collector.form.file.spool.seek(0)
    return collector.form
