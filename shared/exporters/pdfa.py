"""PDF/A-2b: mark a document as such, save it, and say whether a validator approved it.

Marking is pikepdf's ``pdfa.prepare``: one sRGB OutputIntent and XMP metadata declaring
``pdfaid:part`` 2, ``pdfaid:conformance`` B; nothing on the pages is converted or re-encoded,
so a document with, say, an unembedded font stays non-conforming. The saved file is then
checked by veraPDF when a ``verapdf`` binary is installed, else by pikepdf's own allowlist
validator (``pikepdf[pdfa]``, which approves only what it knows conforms). A validator that
cannot decide (veraPDF crashing or timing out, pikepdf meeting a construct it does not check)
gives ``unvalidated``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pikepdf
from pikepdf import pdfa

FLAVOUR = "2b"
VERAPDF_TIMEOUT_SECONDS = 300

Status = Literal["valid", "invalid", "unvalidated"]


@dataclass(frozen=True)
class PdfaVerdict:
    """What became of a PDF/A-2b request.

    Attributes:
        status: ``valid`` (a validator approved the file), ``invalid`` (it did not; the file
            served is then a plain PDF) or ``unvalidated`` (no validator could tell).
        validator: ``verapdf`` or ``pikepdf``; None when none ran.
        detail: The first reason for an ``invalid`` or ``unvalidated`` verdict.
    """

    status: Status
    validator: str | None = None
    detail: str = ""


def save_pdfa(pdf: pikepdf.Pdf, out: Path) -> PdfaVerdict:
    """Mark ``pdf`` as PDF/A-2b, save it to ``out`` and validate what was written."""
    pdfa.prepare(pdf, FLAVOUR)
    options = pdfa.resolve_save_kwargs(FLAVOUR)
    pdf.save(out, **options)
    verdict = verapdf_verdict(out)
    if verdict is not None:
        return verdict
    return _pikepdf_verdict(pdfa.validate_written(out, FLAVOUR, options))


def verapdf_verdict(path: Path, binary: str = "verapdf") -> PdfaVerdict | None:
    """veraPDF's verdict on ``path`` as PDF/A-2b; None when no such binary is installed."""
    found = shutil.which(binary)
    if found is None:
        return None
    command = [found, "--format", "json", "--flavour", FLAVOUR, str(path)]
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=VERAPDF_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return PdfaVerdict("unvalidated", "verapdf", f"veraPDF did not finish: {e}")
    return parse_verapdf_report(done.stdout)


def parse_verapdf_report(output: bytes) -> PdfaVerdict:
    """The verdict in veraPDF's ``--format json`` report (its first job's first result)."""
    try:
        report: Any = json.loads(output)
        result = report["report"]["jobs"][0]["validationResult"]
        first = result[0] if isinstance(result, list) else result
        failed = int(first["details"]["failedRules"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        return PdfaVerdict("unvalidated", "verapdf", f"unreadable veraPDF report: {e!r}")
    if failed == 0:
        return PdfaVerdict("valid", "verapdf")
    return PdfaVerdict("invalid", "verapdf", f"{failed} PDF/A-2b rules failed")


def _pikepdf_verdict(report: Any) -> PdfaVerdict:
    if report.verdict == "pass":
        return PdfaVerdict("valid", "pikepdf")
    detail = str(report.findings[0]) if report.findings else report.verdict
    status: Status = "invalid" if report.verdict == "fail" else "unvalidated"
    return PdfaVerdict(status, "pikepdf", detail)
