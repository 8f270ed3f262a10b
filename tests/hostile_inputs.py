"""Hostile and broken inputs built in memory, shared by the unit and chaos layers.

PDFs are written by hand (``pdf_bytes``) so that page sizes, rotation, page content and the
standard security handler (RC4, revision 3) are exactly what a test needs; TIFFs come from
Pillow, or by hand (``tiff_headers``) where thousands of frames or header-only frame sizes
are needed; zips and tars are written with any name, type or header field a test needs
(``make_zip``, ``make_tar``, ``patch_zip``); 7z archives, encrypted zips and zstd tars are
written by libarchive itself (``libarchive_write``), RAR archives by ``tests.rar_fixtures``.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

# --- PDFs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PdfPage:
    width: float
    height: float
    content: bytes = b""
    rotate: int = 0


def fill(gray: float) -> bytes:
    """Content stream painting the whole page (up to 2000 pt) one gray level."""
    return b"%.2f g 0 0 2000 2000 re f" % gray


RED_SQUARE = b"1 1 1 rg 0 0 2000 2000 re f 1 0 0 rg 10 10 30 30 re f"

PADDING = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")
FILE_ID = bytes(range(16))
PERMISSIONS = -3904  # print, copy and the rest denied: any value works for a test
KEY_BYTES = 16  # 128-bit RC4, security handler revision 3


def rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def rc4_rounds(key: bytes, data: bytes) -> bytes:
    """RC4 with the key, then 19 more times with the key XOR 1..19 (revision 3)."""
    for round_ in range(20):
        data = rc4(bytes(b ^ round_ for b in key), data)
    return data


def md5_rounds(data: bytes) -> bytes:
    digest = hashlib.md5(data).digest()
    for _ in range(50):
        digest = hashlib.md5(digest[:KEY_BYTES]).digest()
    return digest[:KEY_BYTES]


def padded(password: bytes) -> bytes:
    return (password + PADDING)[:32]


@dataclass(frozen=True)
class Security:
    """The standard security handler, revision 3 (PDF 1.7, 7.6.3, algorithms 1 to 5)."""

    user_password: bytes
    owner_password: bytes

    @property
    def owner_entry(self) -> bytes:
        key = md5_rounds(padded(self.owner_password or self.user_password))
        return rc4_rounds(key, padded(self.user_password))

    @property
    def file_key(self) -> bytes:
        permissions = struct.pack("<i", PERMISSIONS)
        return md5_rounds(padded(self.user_password) + self.owner_entry + permissions + FILE_ID)

    @property
    def user_entry(self) -> bytes:
        digest = hashlib.md5(PADDING + FILE_ID).digest()
        return rc4_rounds(self.file_key, digest) + bytes(16)

    def encrypt(self, number: int, data: bytes) -> bytes:
        salt = number.to_bytes(3, "little") + (0).to_bytes(2, "little")
        return rc4(hashlib.md5(self.file_key + salt).digest()[: KEY_BYTES + 5], data)

    def dictionary(self) -> bytes:
        return b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P %d /O <%s> /U <%s> >>" % (
            PERMISSIONS,
            self.owner_entry.hex().encode(),
            self.user_entry.hex().encode(),
        )


def pdf_bytes(pages: Sequence[PdfPage], security: Security | None = None) -> bytes:
    """A PDF with a correct xref: catalog 1, page tree 2, then page and content pairs."""
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)),
    ]
    for i, page in enumerate(pages):
        number = 4 + 2 * i
        stream = security.encrypt(number, page.content) if security else page.content
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Rotate %d /Contents %d 0 R >>"
            % (page.width, page.height, page.rotate, number)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    trailer = b"/ID [<%s> <%s>]" % (FILE_ID.hex().encode(), FILE_ID.hex().encode())
    if security:
        objects.append(security.dictionary())
        trailer += b" /Encrypt %d 0 R" % len(objects)
    return assemble(objects, trailer)


def assemble(objects: Sequence[bytes], trailer: bytes) -> bytes:
    out = bytearray(b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --- building TIFFs ----------------------------------------------------------------------


def tiff_bytes(frames: Sequence[Image.Image], **params: Any) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=list(frames[1:]), **params)
    return buffer.getvalue()


def image_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def tiff_headers(sizes: Sequence[tuple[int, int]], gray: int = 255) -> bytes:
    """An 8-bit gray TIFF written by hand, one IFD per size, all sharing one strip.

    The strip holds the pixels of the first frame only: larger frames are declared in
    their IFDs but cannot be decoded, which is what a header-only check must not notice.
    Pillow takes about 5 ms a frame to write a TIFF; this takes microseconds.
    """
    strip = bytes([gray]) * (sizes[0][0] * sizes[0][1])
    ifd_size = 2 + 9 * 12 + 4
    first_ifd = 8 + len(strip)
    out = bytearray(struct.pack("<2sHI", b"II", 42, first_ifd) + strip)
    for i, (width, height) in enumerate(sizes):
        following = first_ifd + (i + 1) * ifd_size if i + 1 < len(sizes) else 0
        entries = [
            (256, 4, width),  # ImageWidth
            (257, 4, height),  # ImageLength
            (258, 3, 8),  # BitsPerSample
            (259, 3, 1),  # Compression: none
            (262, 3, 1),  # PhotometricInterpretation: black is zero
            (273, 4, 8),  # StripOffsets
            (277, 3, 1),  # SamplesPerPixel
            (278, 4, height),  # RowsPerStrip
            (279, 4, width * height),  # StripByteCounts
        ]
        out += struct.pack("<H", len(entries))
        out += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
        out += struct.pack("<I", following)
    return bytes(out)


# --- archives ----------------------------------------------------------------------------


def make_zip(
    entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class T:
    """A tar entry to write: a regular file unless ``type`` says otherwise."""

    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""


def make_tar(entries: Iterable[T | tuple[str, bytes]], gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as archive:
        for entry in entries:
            item = T(*entry) if isinstance(entry, tuple) else entry
            info = tarfile.TarInfo(item.name)
            info.type, info.linkname, info.size = item.type, item.linkname, len(item.data)
            archive.addfile(info, io.BytesIO(item.data) if item.data else None)
    return buffer.getvalue()


def zip_record_offset(data: bytes, name: str) -> int:
    """Offset of the central directory record of ``name``."""
    raw, at = name.encode(), data.find(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(raw)] != raw:
        at = data.find(b"PK\x01\x02", at + 4)
        assert at >= 0, name
    return at


def patch_zip(
    data: bytes, name: str, central: dict[int, tuple[str, int]], local: dict[int, tuple[str, int]]
) -> bytes:
    """Overwrite fields of one member's central record and local header (offset: (fmt, v))."""
    patched, record = bytearray(data), zip_record_offset(data, name)
    header = struct.unpack_from("<L", data, record + 42)[0]
    for offset, (fmt, value) in central.items():
        struct.pack_into(fmt, patched, record + offset, value)
    for offset, (fmt, value) in local.items():
        struct.pack_into(fmt, patched, header + offset, value)
    return bytes(patched)


def png_declaring(width: int, height: int, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but which holds one empty row.

    The header is valid (right CRC), so only the declared size can give it away: a
    decompression bomb to anything that trusts the header enough to allocate the pixels.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def encrypted_member(data: bytes, name: str) -> bytes:
    """The zip ``data`` with member ``name`` flagged as encrypted (general purpose bit 0)."""
    return patch_zip(data, name, central={8: ("<H", 0x1)}, local={6: ("<H", 0x1)})


@dataclass(frozen=True)
class W:
    """An entry for ``libarchive_write``: a regular file unless ``link`` or ``folder``."""

    name: str
    data: bytes = b""
    link: str = ""  # a symbolic link to this target
    folder: bool = False


def libarchive_write(
    entries: Iterable[W | tuple[str, bytes]],
    format_name: str,
    filter_name: str | None = None,
    options: str = "",
    passphrase: str | None = None,
) -> bytes:
    """An archive written by libarchive (``7zip``, ``zip``, ``gnutar``, ...) into memory."""
    import libarchive  # the worker's dependency: only the tests that need it import it
    from libarchive.entry import FileType

    chunks: list[bytes] = []

    def collect(data: bytes) -> int:
        chunks.append(bytes(data))
        return len(data)

    with libarchive.custom_writer(
        collect, format_name, filter_name, options=options, passphrase=passphrase
    ) as archive:
        for raw in entries:
            entry = W(*raw) if isinstance(raw, tuple) else raw
            if entry.link:  # libarchive's 7z writer crashes on links: zip and tar only
                archive.add_file_from_memory(
                    entry.name, 0, b"", filetype=FileType.SYMBOLINK_LINK, linkpath=entry.link
                )
            elif entry.folder:
                archive.add_file_from_memory(
                    entry.name, 0, b"", filetype=FileType.DIRECTORY, permission=0o755
                )
            else:
                archive.add_file_from_memory(entry.name, len(entry.data), entry.data)
    return b"".join(chunks)
