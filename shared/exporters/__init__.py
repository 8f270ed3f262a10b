"""Result exporters: a job's result as JSON, plain text, hOCR, ALTO, PAGE XML or PDF.

``FORMATS`` maps each name to its media type, file suffix and renderer; ``export`` renders
one; ``parse_formats`` reads a ``?format=txt,alto`` list. PAGE XML holds one page per
document: ``shared.exporters.pagexml.render_pages`` gives every page's. The searchable PDF
is built over the stored upload, not from the result alone:
``shared.exporters.searchable_pdf.write_searchable_pdf``.
"""

from __future__ import annotations

from shared.exporters.formats import FORMATS, ExportFormat, export, parse_formats

__all__ = ["FORMATS", "ExportFormat", "export", "parse_formats"]
