"""Documents and archives built in code for the batch tests: PNG, JPEG, PDF, TIFF pages and
zip/tar archives of them, several folders deep."""

from __future__ import annotations

import io
import tarfile
import zipfile

from PIL import Image

from tests.conftest import text_image


def page_images(texts: list[str]) -> list[Image.Image]:
    """One small printed page per text."""
    return [Image.open(io.BytesIO(text_image([t], width=600))).convert("RGB") for t in texts]


def pdf_bytes(texts: list[str]) -> bytes:
    """A PDF with one page per text."""
    pages = page_images(texts)
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    return out.getvalue()


def tiff_bytes(texts: list[str]) -> bytes:
    """A multi-frame TIFF with one frame per text."""
    pages = [p.convert("L") for p in page_images(texts)]
    out = io.BytesIO()
    pages[0].save(out, "TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def jpeg_bytes(text: str) -> bytes:
    return text_image([text], width=600, fmt="JPEG")


def png_bytes(text: str) -> bytes:
    return text_image([text], width=600)


def mixed_tree() -> dict[str, bytes]:
    """A three-level folder of PNG, JPEG, PDF and TIFF documents (7 pages in all)."""
    return {
        "box1/png/one.png": png_bytes("first page"),
        "box1/jpeg/deep/two.jpg": jpeg_bytes("second page"),
        "box2/pdf/a/three.pdf": pdf_bytes(["third page", "fourth page"]),
        "box2/tiff/b/five.tif": tiff_bytes(["fifth page", "sixth page"]),
        "top.png": png_bytes("seventh page"),
    }


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def tar_gz_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def seven_z_of(members: dict[str, bytes]) -> bytes:
    from tests.hostile_inputs import libarchive_write

    return libarchive_write(list(members.items()), "7zip")


def rar_of(members: dict[str, bytes]) -> bytes:
    from tests.rar_fixtures import make_rar

    return make_rar(list(members.items()))
