"""A hostile corpus through the real stack: API, Celery CPU and GPU workers and the sweeper as
processes on PostgreSQL, Redis and S3 (moto).

Every case names its outcome: a 4xx with a problem ``code``, a job that ends ``failed`` with
an ``error.code`` (or ``succeeded``), or a batch whose items are skipped with given codes.
After the whole corpus the workers are still alive, a good image still succeeds and the
store holds nothing outside ``tenants/<tenant id>/``. A table (case, expected, got) is
printed at the end and shown when the test fails.
"""

from __future__ import annotations

import io
import random
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from shared.db.models import Tenant
from shared.db.session import build_engine, build_sessionmaker
from tests.batch_inputs import png_bytes
from tests.conftest import text_image
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack
from tests.hostile_inputs import (
    RED_SQUARE,
    PdfPage,
    Security,
    T,
    encrypted_member,
    fill,
    libarchive_write,
    make_tar,
    make_zip,
    pdf_bytes,
    png_declaring,
    tiff_headers,
)
from tests.rar_fixtures import RarEntry, make_rar
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.chaos

# The end-to-end stack's fixtures, shared with tests/e2e rather than copied.
stack_env, stack, api_key = e2e.stack_env, e2e.stack, e2e.api_key

MIB = 1024 * 1024
TERMINAL = {"succeeded", "partial", "failed", "canceled"}
SETTLE_SECONDS = 150  # the whole corpus, submitted at once, ends well inside this
OK = png_bytes("good page")  # the one readable member of each archive


# --- what a case expects, as the line the summary table prints ----------------------------


def refused(status: int, code: str) -> str:
    return f"HTTP {status} {code}"


def job(status: str, code: str | None = None) -> str:
    return f"job {status}" + (f" {code}" if code else "")


def batch(status: str, *items: str, code: str | None = None) -> str:
    """A batch's status (and error code), then each item in archive order: a job status of a
    document member, or a skip code."""
    return f"batch {status}" + (f" {code}" if code else "") + " [" + ", ".join(items) + "]"


def delivery_refused(received: int | None = None) -> str:
    """A job that succeeds and whose webhook is refused before anything is sent."""
    seen = "" if received is None else f"; receiver got {received}"
    return f"job succeeded; webhook failed (refused){seen}"


@dataclass
class Case:
    """One request: ``files`` is httpx's multipart ``files``; ``json`` replaces the form."""

    name: str
    endpoint: str  # "jobs" or "batches"
    expected: str
    files: list[tuple[str, tuple[str, bytes, str]]] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    text: str | None = None  # a succeeded job's result must read this (case-insensitive)
    receiver: bool = False  # its callback URL is the loopback receiver: count what it got
    response: httpx.Response | None = None
    got: str = "not sent"


def one_file(name: str, data: bytes, mime: str = "application/octet-stream") -> list[Any]:
    return [("file", (name, data, mime))]


# --- hostile single files ------------------------------------------------------------------


def truncated_png() -> bytes:
    data = text_image(["truncated page"], width=600)
    return data[: len(data) // 2]


def corrupt_jpeg_body() -> bytes:
    """A JPEG whose header is intact and whose entropy-coded data is random."""
    data = text_image(["corrupt jpeg body"], width=600, fmt="JPEG")
    scan = data.index(b"\xff\xda") + 14  # after the start-of-scan header
    noise = random.Random(3).randbytes(len(data) - scan - 2)
    return data[:scan] + noise + b"\xff\xd9"


def truncated_pdf() -> bytes:
    good = pdf_bytes([PdfPage(100, 100, fill(0.5))] * 2)
    return good[: len(good) // 2]


def animated_gif() -> bytes:
    frames = [Image.new("L", (40, 20), level) for level in (0, 128, 255)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def sixteen_bit_png(text: str) -> bytes:
    gray = Image.open(io.BytesIO(text_image([text], width=600))).convert("L")
    wide = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)  # full 16-bit range
    out = io.BytesIO()
    wide.save(out, "PNG")
    assert Image.open(io.BytesIO(out.getvalue())).mode.startswith("I")
    return out.getvalue()


def cmyk_jpeg(text: str) -> bytes:
    page = Image.open(io.BytesIO(text_image([text], width=600))).convert("CMYK")
    out = io.BytesIO()
    page.save(out, "JPEG", quality=95)
    assert Image.open(io.BytesIO(out.getvalue())).mode == "CMYK"
    return out.getvalue()


def one_pixel_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (1, 1), 255).save(out, "PNG")
    return out.getvalue()


def single_file_cases() -> list[Case]:
    png, jpeg, pdf, tiff = "image/png", "image/jpeg", "application/pdf", "image/tiff"
    return [
        Case("truncated PNG", "jobs", job("failed", "corrupt_image"),
             one_file("t.png", truncated_png(), png)),
        Case("corrupt JPEG body", "jobs", job("failed", "corrupt_image"),
             one_file("c.jpg", corrupt_jpeg_body(), jpeg)),
        Case("zero bytes", "jobs", refused(400, "empty_file"), one_file("empty.png", b"", png)),
        Case("text named .png", "jobs", refused(415, "unsupported_media_type"),
             one_file("notes.png", b"just some text, not an image\n" * 20, png)),
        Case("PNG header 100000x100000", "jobs", refused(422, "image_too_large"),
             one_file("bomb.png", png_declaring(100_000, 100_000), png)),
        Case("PDF page 35000x35000 pt", "jobs", job("failed", "image_too_large"),
             one_file("huge.pdf", pdf_bytes([PdfPage(612, 792), PdfPage(35000, 35000)]), pdf)),
        Case("truncated PDF", "jobs", job("failed", "corrupt_document"),
             one_file("cut.pdf", truncated_pdf(), pdf)),
        Case("password-protected PDF", "jobs", job("failed", "encrypted_document"),
             one_file("locked.pdf",
                      pdf_bytes([PdfPage(60, 60, RED_SQUARE)], Security(b"secret", b"o")), pdf)),
        Case("TIFF with 5000 frames", "jobs", job("failed", "too_many_pages"),
             one_file("many.tif", tiff_headers([(1, 1)] * 5000), tiff)),
        Case("animated GIF", "jobs", job("failed", "multipage_not_supported"),
             one_file("anim.gif", animated_gif(), "image/gif")),
        Case("16-bit PNG", "jobs", job("succeeded"),
             one_file("deep.png", sixteen_bit_png("sixteen bits"), png), text="sixteen"),
        Case("CMYK JPEG", "jobs", job("succeeded"),
             one_file("cmyk.jpg", cmyk_jpeg("printed in cmyk"), jpeg), text="cmyk"),
        Case("1x1 image", "jobs", job("succeeded"), one_file("dot.png", one_pixel_png(), png)),
        Case("over QUIRE_MAX_UPLOAD_MB", "jobs", refused(413, "payload_too_large"),
             one_file("big.png", OK[:64] + bytes(2 * MIB), png)),
    ]  # fmt: skip


def form_cases(receiver_url: str) -> list[Case]:
    good = one_file("p.png", OK, "image/png")
    bad_form = refused(422, "invalid_request")
    return [
        Case("unknown form field", "jobs", bad_form, good, {"colour": "blue"}),
        Case("bad priority", "jobs", bad_form, good, {"priority": "urgent!"}),
        Case("metadata not JSON", "jobs", bad_form, good, {"metadata": "{not json"}),
        Case("metadata a JSON array", "jobs", bad_form, good, {"metadata": "[1, 2]"}),
        Case("metadata over 16 KiB", "jobs", bad_form, good,
             {"metadata": '{"k": "' + "x" * 17_000 + '"}'}),
        Case("no file part", "jobs", bad_form, [("priority", (None, "bulk"))]),  # type: ignore[list-item]
        # JSON is the presigned form (an upload_id); a file inside it is not a request.
        Case("JSON with a file instead of an upload_id", "jobs", refused(422, "invalid_request"),
             json={"file": "aGVsbG8="}),
        Case("callback_url ftp://", "jobs", refused(422, "callback_url_refused"), good,
             {"callback_url": "ftp://example.com/hook"}),
        Case("callback_url with credentials", "jobs", refused(422, "callback_url_refused"), good,
             {"callback_url": "https://user:pw@example.com/hook"}),
        Case("callback_url to link-local metadata", "jobs", delivery_refused(), good,
             {"callback_url": "https://169.254.169.254/latest/meta-data/"}),
        Case("callback_url to a private address", "jobs", delivery_refused(), good,
             {"callback_url": "https://10.0.0.7/hook"}),
        Case("callback_url to a loopback receiver", "jobs", delivery_refused(received=0), good,
             {"callback_url": receiver_url}, receiver=True),
        Case("bad priority on a batch", "batches", bad_form,
             one_file("a.zip", make_zip([("p.png", OK)])), {"priority": "now"}),
    ]  # fmt: skip


# --- hostile archives ------------------------------------------------------------------------


def seven_z_of_hostiles(inner_zip: bytes) -> bytes:
    """A 7z: a slip name, a page, a duplicate, a nested zip and a bomb of zeros."""
    return libarchive_write(
        [
            ("../evil.png", OK),
            ("ok.png", OK),
            ("ok.png", truncated_png()),
            ("in.zip", inner_zip),
            ("bomb.png", OK[:8] + bytes(50 * MIB)),
        ],
        "7zip",
    )


def rar_of_hostiles() -> bytes:
    """A RAR: an absolute name, a symbolic link, an encrypted member, then a page."""
    return make_rar(
        [
            ("/etc/evil.png", OK),
            RarEntry("link.png", b"/etc/passwd", kind="symlink"),
            RarEntry("secret.png", OK, encrypted=True),
            ("box/ok.png", OK),
        ]
    )


def zip_with_nul_name() -> bytes:
    data = make_zip([("aXb.png", OK), ("ok.png", OK)])
    return data.replace(b"aXb.png", b"a\x00b.png")  # local header and central record alike


def zip_of_damage() -> bytes:
    """An empty member, a text member, a member whose CRC is wrong, then a good page."""
    content = OK[:8] + random.Random(5).randbytes(20_000)
    members = [("empty.png", b""), ("notes.txt", b"plain text\n" * 50), ("bad.png", content)]
    data = bytearray(make_zip([*members, ("ok.png", OK)], method=0))  # stored, not deflated
    data[data.find(content) + 15_000] ^= 0xFF  # past the sniffed head: found while copying
    return bytes(data)


def archive_cases() -> list[Case]:
    zip_bomb = make_zip([("bomb.png", OK[:8] + bytes(50 * MIB)), ("ok.png", OK)])
    assert len(zip_bomb) < 200_000  # about 1000:1
    deep = "/".join(["level"] * 150) + "/deep.png"  # 150 folders, 910 characters
    deeper = "/".join(["d"] * 600) + "/x.png"  # 1205 characters: past the 1024 limit
    unicode_names = [
        "Cafe\u0301/Pa\u0301gina.png",  # NFD: stored as NFC
        "📦 box/😀.png",
        "מסמכים/\u202bעמוד\u202c.png",  # noqa: RUF001  (Hebrew with bidi embedding marks)
    ]
    inner_zip, inner_tar = make_zip([("a.png", OK)]), make_tar([("a.png", OK)])
    encrypted = encrypted_member(make_zip([("secret.png", OK), ("ok.png", OK)]), "secret.png")
    specials = [
        T("link.png", type=tarfile.SYMTYPE, linkname="/etc/passwd"),
        T("hard.png", type=tarfile.LNKTYPE, linkname="ok.png"),
        T("tty", type=tarfile.CHRTYPE),
        T("sda", type=tarfile.BLKTYPE),
        T("pipe", type=tarfile.FIFOTYPE),
    ]
    slip = ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:\\evil.png"]
    zip_name, tgz = "application/zip", "application/gzip"
    return [
        Case("zip bomb (ratio)", "batches",
             batch("succeeded", "compression_ratio", "succeeded"),
             one_file("bomb.zip", zip_bomb, zip_name)),
        Case("zip slip (../, absolute, drive)", "batches",
             batch("succeeded", *["unsafe_path"] * 4, "succeeded"),
             one_file("slip.zip", make_zip([*[(n, OK) for n in slip], ("ok.png", OK)]))),
        Case("tar slip, only unsafe names", "batches",
             batch("failed", "unsafe_path", "unsafe_path", code="no_documents"),
             one_file("slip.tar.gz", make_tar([(n, OK) for n in slip[:2]]), tgz)),
        Case("tar with symlink, hard link, devices, FIFO", "batches",
             batch("succeeded", "succeeded", *["not_a_regular_file"] * 5),
             one_file("special.tar", make_tar([("ok.png", OK), *specials], gz=False))),
        Case("nested archives", "batches",
             batch("succeeded", "nested_archive", "nested_archive", "succeeded"),
             one_file("nest.zip", make_zip(
                 [("in.zip", inner_zip), ("in.tar.gz", inner_tar), ("ok.png", OK)]))),
        Case("encrypted zip member", "batches",
             batch("succeeded", "encrypted_member", "succeeded"),
             one_file("enc.zip", encrypted)),
        Case("duplicate member names", "batches",
             batch("succeeded", "succeeded", "duplicate_name"),
             one_file("dup.zip", make_zip([("same.png", OK), ("same.png", truncated_png())]))),
        Case("deep nesting (150 and 600 levels)", "batches",
             batch("succeeded", "succeeded", "unsafe_path"),
             one_file("deep.tar.gz", make_tar([(deep, OK), (deeper, OK)]), tgz)),
        Case("Unicode and 1025-character names", "batches",
             batch("succeeded", *["succeeded"] * 3, "unsafe_path", "succeeded"),
             one_file("names.zip", make_zip(
                 [*[(n, OK) for n in unicode_names], ("x" * 1025, OK), ("ok.png", OK)]))),
        # libarchive reads names as C strings (as bsdtar and unzip do): the name ends at the
        # NUL, and "a" goes in as a page; no NUL reaches a path.
        Case("NUL byte in a zip name", "batches",
             batch("succeeded", "succeeded", "succeeded"),
             one_file("nul.zip", zip_with_nul_name())),
        Case("7z: slip, duplicate, nested, bomb", "batches",
             batch("succeeded", "unsafe_path", "succeeded", "duplicate_name", "nested_archive",
                   "compression_ratio"),
             one_file("hostile.7z", seven_z_of_hostiles(inner_zip))),
        Case("RAR: absolute name, link, encrypted member", "batches",
             batch("succeeded", "unsafe_path", "not_a_regular_file", "encrypted_member",
                   "succeeded"),
             one_file("hostile.rar", rar_of_hostiles())),
        Case("empty, text and damaged members", "batches",
             batch("succeeded", "empty_file", "unsupported_type", "corrupt_member", "succeeded"),
             one_file("mixed.zip", zip_of_damage())),
        Case("pixel bomb inside a zip", "batches",
             batch("partial", "failed image_too_large", "succeeded"),
             one_file("pix.zip", make_zip(
                 [("bomb.png", png_declaring(100_000, 100_000)), ("ok.png", OK)]))),
        Case("truncated zip", "batches", batch("failed", code="corrupt_archive"),
             one_file("cut.zip", make_zip([("ok.png", OK)])[:-10])),
        Case("PNG sent as a batch", "batches", refused(415, "unsupported_media_type"),
             one_file("page.zip", OK, zip_name)),
    ]  # fmt: skip


# --- sending and watching --------------------------------------------------------------------


def send(client: httpx.Client, case: Case) -> None:
    if case.json is not None:
        case.response = client.post(f"/v1/{case.endpoint}", json=case.json)
    else:
        case.response = client.post(f"/v1/{case.endpoint}", files=case.files, data=case.data)


def outcome(client: httpx.Client, case: Case, receiver: Receiver) -> str | None:
    """What happened to the case, or None while it is still going."""
    assert case.response is not None
    if case.response.status_code != 202:
        code = case.response.json().get("code") if case.response.content else None
        return refused(case.response.status_code, str(code))
    ident = case.response.json()["id"]
    if case.endpoint == "batches":
        return batch_outcome(client, ident)
    return job_outcome(client, case, ident, receiver)


def job_outcome(client: httpx.Client, case: Case, job_id: str, receiver: Receiver) -> str | None:
    seen = client.get(f"/v1/jobs/{job_id}").json()
    if seen["status"] not in TERMINAL:
        return None
    got = job(seen["status"], (seen.get("error") or {}).get("code"))
    if case.text and seen["status"] == "succeeded":
        text = client.get(f"/v1/jobs/{job_id}/result", params={"format": "txt"}).text
        got += "" if case.text in text.lower() else f" but read {text.strip()!r}"
    if "callback_url" not in case.data:
        return got
    items = client.get("/v1/webhook-deliveries", params={"job_id": job_id}).json()["items"]
    if not items or items[0]["status"] == "pending":
        return None
    refusal = " (refused)" if str(items[0]["last_error"]).startswith("refused:") else ""
    seen_by = f"; receiver got {len(receiver.received)}" if case.receiver else ""
    return f"{got}; webhook {items[0]['status']}{refusal}{seen_by}"


def batch_outcome(client: httpx.Client, batch_id: str) -> str | None:
    seen = client.get(f"/v1/batches/{batch_id}").json()
    if seen["status"] not in TERMINAL:
        return None
    items = client.get(f"/v1/batches/{batch_id}/items", params={"limit": 100}).json()["items"]
    described = [
        item["error"]["code"]
        if item["status"] == "skipped"
        else job(item["status"], (item.get("error") or {}).get("code"))[len("job ") :]
        for item in items
    ]
    return batch(seen["status"], *described, code=(seen.get("error") or {}).get("code"))


def settle(client: httpx.Client, cases: list[Case], receiver: Receiver) -> None:
    """Watch every case until it has an outcome or the time is up."""
    deadline = time.monotonic() + SETTLE_SECONDS
    waiting = list(cases)
    while waiting and time.monotonic() < deadline:
        for case in list(waiting):
            got = outcome(client, case, receiver)
            if got is not None:
                case.got = got
                waiting.remove(case)
        time.sleep(0.5)
    for case in waiting:
        case.got = f"still running after {SETTLE_SECONDS}s"


def table(cases: list[Case]) -> str:
    width = max(len(c.name) for c in cases)
    lines = [f"{'case':<{width}}  ok  expected  |  got"]
    for c in cases:
        mark = "ok" if c.got == c.expected else "XX"
        lines.append(f"{c.name:<{width}}  {mark}  {c.expected}  |  {c.got}")
    return "\n".join(lines)


def store_keys(s3_client: Any, bucket: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def tenant_id(database_url: str, name: str) -> str:
    engine = build_engine(database_url)
    try:
        with build_sessionmaker(engine)() as session:
            return str(session.scalar(select(Tenant.id).where(Tenant.name == name)))
    finally:
        engine.dispose()


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Any:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hostile_stack(stack: Stack) -> Stack:
    stack.env.update(
        {
            "QUIRE_MAX_UPLOAD_MB": "1",
            "QUIRE_WEBHOOK_ALLOW_HTTP": "true",  # so only the address refuses the receiver
            "QUIRE_SWEEP_INTERVAL_SECONDS": "0.2",
            "QUIRE_WORKER_METRICS_PORT": "0",
            # One key polls dozens of cases at once: past the default rate of 10 per second.
            "QUIRE_RATE_LIMIT_PER_MINUTE": "0",
        }
    )
    stack.start_api()
    stack.start_worker("cpu")
    stack.start_worker("gpu")
    stack.start_sweeper()
    return stack


def test_hostile_corpus_through_the_real_stack(
    hostile_stack: Stack,
    api_key: str,
    receiver: Receiver,
    crom_png: bytes,
    s3_client: Any,
    s3_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    running = hostile_stack
    cases = [*single_file_cases(), *form_cases(receiver.url), *archive_cases()]
    assert len(cases) >= 25
    with httpx.Client(base_url=running.url, headers={"X-API-Key": api_key}, timeout=60) as client:
        for case in cases:
            send(client, case)
        settle(client, cases, receiver)
        survivors = {name: running.procs[name].poll() for name in ("worker-cpu", "worker-gpu")}
        after = Case("good image after the corpus", "jobs", job("succeeded"),
                     one_file("crom.png", crom_png, "image/png"), text="cromulent")  # fmt: skip
        send(client, after)
        settle(client, [after], receiver)
    prefix = f"tenants/{tenant_id(running.env['QUIRE_DATABASE_URL'], 'e2e')}/"
    keys = store_keys(s3_client, s3_env["QUIRE_S3_BUCKET"])
    outside = [k for k in keys if not k.startswith(prefix) or ".." in k.split("/")]
    report = table([*cases, after])
    with capsys.disabled():
        print(f"\n{report}\nworkers: {survivors}; {len(keys)} objects, outside {prefix}: {outside}")
    assert survivors == {"worker-cpu": None, "worker-gpu": None}, survivors
    assert not outside, outside
    # Zip slip would have written here (the store's files and the workers' temp folders).
    slipped = [Path("/etc/evil.png"), Path(tempfile.gettempdir(), "evil.png")]
    assert not [p for p in [*slipped, *tmp_path.rglob("evil.png")] if p.exists()]
    assert keys, "the corpus stored nothing at all"
    deviations = [c.name for c in [*cases, after] if c.got != c.expected]
    assert not deviations, f"{len(deviations)} cases deviate: {deviations}\n{report}"
