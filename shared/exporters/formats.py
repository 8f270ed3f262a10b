"""The export formats by name, and the parsing of ``?format=`` lists."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.exporters import alto, hocr, pagexml, text
from shared.schemas import ResultOut

DEFAULT_FORMAT = "json"
ALL_FORMATS = "all"


@dataclass(frozen=True)
class ExportFormat:
    """A way to write a result down.

    Attributes:
        name: The name clients ask for: ``json``, ``txt``, ``hocr``, ``alto``, ``pagexml``
            or ``pdf``.
        media_type: The ``Content-Type`` of the document.
        suffix: What a batch export appends to an item's path (``.alto.xml``).
        render: ``(result, source_name) -> bytes``, the document as UTF-8; None for a
            format built over the job's stored upload (``pdf``: see
            ``shared.exporters.searchable_pdf``), which the result alone cannot make.
    """

    name: str
    media_type: str
    suffix: str
    render: Callable[[ResultOut, str], bytes] | None

    @property
    def needs_source(self) -> bool:
        """Whether the document is built over the uploaded file rather than from the result."""
        return self.render is None


def render_json(result: ResultOut, source_name: str = "") -> bytes:
    """The JSON result, indented (``source_name`` is not used: the JSON has no place for it)."""
    return result.model_dump_json(indent=2).encode("utf-8")


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("json", "application/json", ".json", render_json),
        ExportFormat("txt", "text/plain; charset=utf-8", ".txt", text.render),
        ExportFormat("hocr", "text/html; charset=utf-8", ".hocr.html", hocr.render),
        ExportFormat("alto", "application/xml", ".alto.xml", alto.render),
        ExportFormat("pagexml", "application/xml", ".page.xml", pagexml.render),
        ExportFormat("pdf", "application/pdf", ".pdf", None),
    )
}


def export(result: ResultOut, fmt: str, source_name: str = "") -> bytes:
    """The result as a document in format ``fmt``.

    Args:
        result: The job's result.
        fmt: A name from ``FORMATS``.
        source_name: The uploaded file's name, for the formats that record it.

    Returns:
        The document's bytes (for ``pagexml``, the first page's document).

    Raises:
        ValueError: ``fmt`` is not a format's name, or names one built over the upload.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {_names()}")
    render = FORMATS[fmt].render
    if render is None:
        raise ValueError(f"format {fmt!r} is built over the uploaded file, not from the result")
    return render(result, source_name)


def parse_formats(value: str) -> list[str]:
    """The formats a comma-separated list names, in its order.

    ``""`` means ``json``; ``all`` means every format. Spaces around names are ignored.

    Args:
        value: The list as a client sent it, e.g. ``"txt,alto"``.

    Returns:
        Format names, each once.

    Raises:
        ValueError: A name is empty, unknown or repeated, or ``all`` is combined with others.
    """
    if not value.strip():
        return [DEFAULT_FORMAT]
    names = [name.strip() for name in value.split(",")]
    if names == [ALL_FORMATS]:
        return list(FORMATS)
    if ALL_FORMATS in names:
        raise ValueError(f"{ALL_FORMATS!r} cannot be combined with other formats: {value!r}")
    if "" in names:
        raise ValueError(f"empty format name in {value!r}; valid formats: {_names()}")
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; valid formats: {_names()} or 'all'")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"format {repeated[0]!r} is named more than once in {value!r}")
    return names


def _names() -> str:
    return ", ".join(FORMATS)
