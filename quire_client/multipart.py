"""A ``multipart/form-data`` body with one file, streamed from disk with a known length.

The length is computed up front so the request carries ``Content-Length`` (no chunked
encoding) and the file is read chunk by chunk as it is sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from quire_client.streams import CountedBody, ProgressHook, file_chunks


@dataclass(frozen=True)
class MultipartBody:
    """What a streamed multipart request needs: headers and a replayable body."""

    content_type: str
    length: int
    body: CountedBody


def _quote(value: str) -> str:
    # What browsers do: the characters that would end the header are percent-encoded.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _field(boundary: str, name: str, value: str) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n{value}\r\n'
    ).encode()


def file_form(
    path: Path,
    fields: Mapping[str, str],
    *,
    file_field: str = "file",
    media_type: str = "application/octet-stream",
    on_bytes: ProgressHook | None = None,
) -> MultipartBody:
    """A form of text ``fields`` plus the file at ``path``, streamed.

    Args:
        path: The file to send; its base name is the part's filename.
        fields: Plain form fields, sent before the file.
        file_field: The form name of the file part.
        media_type: The file part's ``Content-Type``.
        on_bytes: Called with the number of file bytes sent, chunk by chunk.

    Returns:
        The form's content type (with its boundary), length and body.
    """
    boundary = "quire-" + secrets.token_hex(16)
    head = b"".join(_field(boundary, name, value) for name, value in fields.items())
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(file_field)}"; '
        f'filename="{_quote(path.name)}"\r\nContent-Type: {media_type}\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def chunks() -> Iterator[bytes]:
        yield head
        yield from file_chunks(path)
        yield tail

    counted = CountedBody(chunks, _file_bytes_only(on_bytes, len(head), size))
    return MultipartBody(
        f"multipart/form-data; boundary={boundary}", len(head) + size + len(tail), counted
    )


def _file_bytes_only(on_bytes: ProgressHook | None, head: int, size: int) -> ProgressHook | None:
    """Report body progress as file progress: the bar counts the file, not the framing."""
    if on_bytes is None:
        return None
    sent = 0

    def report(delta: int) -> None:
        nonlocal sent
        before = min(max(sent - head, 0), size)
        sent += delta
        after = min(max(sent - head, 0), size)
        if after != before:
            on_bytes(after - before)

    return report
