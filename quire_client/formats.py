"""Result formats: which exist, how ``--format`` names them, and their file suffixes."""

from __future__ import annotations

# The suffixes match the server's batch export, so job and batch results look alike.
SUFFIXES: dict[str, str] = {
    "json": ".json",
    "txt": ".txt",
    "hocr": ".hocr.html",
    "alto": ".alto.xml",
    "pagexml": ".page.xml",
    "pdf": ".pdf",  # the searchable PDF: the uploaded pages over an invisible text layer
}
FORMATS: tuple[str, ...] = tuple(SUFFIXES)


def parse_formats(text: str) -> list[str]:
    """The formats of a ``--format`` value: a comma-separated list, or ``all``.

    Args:
        text: For example ``"txt,alto"`` or ``"all"``.

    Returns:
        The formats in the order given, each once.

    Raises:
        ValueError: A name is unknown, or the list is empty.
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError("name at least one format")
    if "all" in names:
        return list(FORMATS)
    unknown = [name for name in names if name not in SUFFIXES]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; use {', '.join(FORMATS)} or all")
    return list(dict.fromkeys(names))


def result_file_name(stem: str, fmt: str, page: int | None = None) -> str:
    """The file name of one result: ``scan.pdf.alto.xml``, or ``scan.pdf.p0002.page.xml``
    for page 2 of a multi-page PAGE XML result (PAGE XML holds one page per file)."""
    if page is None:
        return stem + SUFFIXES[fmt]
    return f"{stem}.p{page:04d}{SUFFIXES[fmt]}"
