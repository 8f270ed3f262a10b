"""A fake quire server for the client's tests: just enough of the v1 contract, in memory.

``FakeQuire.transport()`` serves it through ``httpx.MockTransport``; ``serve_fake`` runs it
on 127.0.0.1 (``http.server`` in a thread) for tests that go through real sockets. Faults
are injected per part (fail N times, interrupt) and per route (answer a problem). The tests
at the bottom pin the fake's own contract rules, so the client's tests can trust them.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

API_KEY = "test-key"
SUFFIXES = {
    "json": ".json",
    "txt": ".txt",
    "hocr": ".hocr.html",
    "alto": ".alto.xml",
    "pagexml": ".page.xml",
}
PAGES_BY_STATUS = {  # (done, failed) of a two-page document, by the job's final status
    "succeeded": (2, 0),
    "partial": (1, 1),
    "failed": (0, 2),
    "canceled": (0, 0),
}


def problem(status: int, code: str, detail: str, **headers: str) -> httpx.Response:
    body = {"type": f"urn:quire:problem:{code}", "title": code, "status": status}
    body.update(detail=detail, code=code)
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **headers}
    )


def parse_form(request: httpx.Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """(text fields, files) of a multipart/form-data request, read with the stdlib parser."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode()
        else:
            files[name] = (filename, payload)
    return fields, files


def archive_members(data: bytes) -> list[str]:
    """The file names in a zip or tar (gz) archive."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [i.filename for i in archive.infolist() if not i.is_dir()]
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return [m.name for m in archive.getmembers() if m.isfile()]


@dataclass
class FakeUpload:
    id: str
    filename: str
    size: int
    content_type: str
    part_size: int
    parts: dict[int, bytes] = field(default_factory=dict)
    status: str = "pending"
    data: bytes = b""

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        return min(self.part_size, self.size - (number - 1) * self.part_size)


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


@dataclass
class FakeQuire:
    """The server's side of the contract, in memory; every request is logged."""

    base_url: str = "http://quire.test"
    store_url: str = "http://store.test"
    part_size: int = 1000
    polls_to_finish: int = 2
    final_status: str = "succeeded"
    retry_after: str = "1"
    fail_part: dict[int, int] = field(default_factory=dict)  # part -> failures before success
    interrupt_part: int | None = None  # raise KeyboardInterrupt when this part is PUT
    part_answers: dict[int, list[httpx.Response]] = field(default_factory=dict)  # canned
    faults: dict[tuple[str, str], list[httpx.Response]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, FakeUpload] = field(default_factory=dict)
    job_files: dict[str, bytes] = field(default_factory=dict)
    job_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    completions: list[list[dict[str, Any]]] = field(default_factory=list)
    batch_requests: list[dict[str, Any]] = field(default_factory=list)
    store_auth_seen: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _polls: dict[str, int] = field(default_factory=dict)

    # --- plumbing -------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, method: str, prefix: str = "") -> list[str]:
        return [p for m, p in self.log if m == method and p.startswith(prefix)]

    def handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        self.log.append((method, path))
        if path.startswith("/store/"):
            return self._put_part(request)
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return problem(401, "unauthorized", "missing or invalid API key")
        for (fault_method, pattern), answers in self.faults.items():
            if method == fault_method and re.fullmatch(pattern, path) and answers:
                return answers.pop(0)
        for route_method, pattern, handler in self._routes():
            found = re.fullmatch(pattern, path)
            if method == route_method and found:
                return handler(request, *found.groups())
        return problem(404, "not_found", f"no route {method} {path}")

    def _routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("POST", r"/v1/jobs", self._post_job),
            ("GET", r"/v1/jobs/([^/]+)", self._get_job),
            ("GET", r"/v1/jobs/([^/]+)/result", self._get_result),
            ("POST", r"/v1/uploads", self._post_upload),
            ("GET", r"/v1/uploads/([^/]+)", self._get_upload),
            ("POST", r"/v1/uploads/([^/]+)/complete", self._complete),
            ("POST", r"/v1/batches", self._post_batch),
            ("GET", r"/v1/batches/([^/]+)", self._get_batch),
            ("GET", r"/v1/batches/([^/]+)/export", self._export),
        ]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    # --- jobs -----------------------------------------------------------------------------

    def _new_job(self, filename: str, batch_id: str | None, fields: dict[str, str]) -> str:
        job_id = self._new_id("j")
        self.jobs[job_id] = {
            "id": job_id,
            "status": "queued",
            "priority": fields.get("priority", "interactive"),
            "filename": filename,
            "media_type": "application/octet-stream",
            "pages_total": 2,
            "pages_done": 0,
            "pages_failed": 0,
            "error": None,
            "batch_id": batch_id,
            "metadata": json.loads(fields.get("metadata", "{}")),
        }
        return job_id

    def _post_job(self, request: httpx.Request) -> httpx.Response:
        fields, files = parse_form(request)
        if "file" not in files:
            return problem(422, "invalid_request", "a file is required")
        filename, data = files["file"]
        job_id = self._new_job(filename, None, fields)
        self.job_files[job_id], self.job_fields[job_id] = data, fields
        headers = {"Location": f"/v1/jobs/{job_id}"}
        return httpx.Response(202, json=self.jobs[job_id], headers=headers)

    def _advance_job(self, job: dict[str, Any]) -> None:
        polls = self._polls[job["id"]] = self._polls.get(job["id"], 0) + 1
        if polls >= self.polls_to_finish:
            job["status"] = self.final_status
            job["pages_done"], job["pages_failed"] = PAGES_BY_STATUS[self.final_status]
            if self.final_status == "failed":
                job["error"] = {"code": "engine_failed", "message": "every page failed"}
        else:
            job.update(status="running", pages_done=1)

    def _polled(self, body: dict[str, Any]) -> httpx.Response:
        terminal = body["status"] in PAGES_BY_STATUS
        headers = {} if terminal else {"Retry-After": self.retry_after}
        return httpx.Response(200, json=body, headers=headers)

    def _get_job(self, _request: httpx.Request, job_id: str) -> httpx.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return problem(404, "not_found", f"no job {job_id!r}")
        self._advance_job(job)
        return self._polled(job)

    def _get_result(self, request: httpx.Request, job_id: str) -> httpx.Response:
        job = self.jobs.get(job_id)
        if job is None:
            return problem(404, "not_found", f"no job {job_id!r}")
        fmt = request.url.params.get("format", "json")
        if fmt == "json":
            return httpx.Response(200, json={"job_id": job_id, "text": f"text of {job_id}"})
        page = request.url.params.get("page", "0")
        return httpx.Response(200, content=f"{fmt} of {job['filename']} page {page}".encode())

    # --- uploads --------------------------------------------------------------------------

    def _upload_out(self, upload: FakeUpload) -> dict[str, Any]:
        pending = upload.status == "pending"
        parts = [
            {
                "number": n,
                "url": f"{self.store_url}/store/{upload.id}/{n}?signature=s{n}",
                "size": upload.part_length(n),
                "headers": {"Content-Type": upload.content_type},
            }
            for n in range(1, upload.count + 1)
        ]
        stored = [
            {"number": n, "etag": etag_of(data), "size": len(data)}
            for n, data in sorted(upload.parts.items())
        ]
        return {
            "id": upload.id,
            "status": upload.status,
            "filename": upload.filename,
            "size_bytes": upload.size,
            "part_size": upload.part_size,
            "parts": parts if pending else [],
            "uploaded_parts": stored if pending else [],
            "expires_at": "2099-01-01T00:00:00Z",
        }

    def _post_upload(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        upload = FakeUpload(
            self._new_id("u"),
            body["filename"],
            int(body["size_bytes"]),
            body["content_type"],
            self.part_size,
        )
        self.uploads[upload.id] = upload
        return httpx.Response(201, json=self._upload_out(upload))

    def _get_upload(self, _request: httpx.Request, upload_id: str) -> httpx.Response:
        upload = self.uploads.get(upload_id)
        if upload is None:
            return problem(404, "not_found", f"no upload {upload_id!r}")
        return httpx.Response(200, json=self._upload_out(upload))

    def _put_part(self, request: httpx.Request) -> httpx.Response:
        if "Authorization" in request.headers:
            self.store_auth_seen.append(request.url.path)
        _, _, upload_id, number_text = request.url.path.split("/")
        number, upload = int(number_text), self.uploads[upload_id]
        if number == self.interrupt_part:
            self.interrupt_part = None
            raise KeyboardInterrupt
        if self.part_answers.get(number):
            return self.part_answers[number].pop(0)
        if self.fail_part.get(number, 0) > 0:
            self.fail_part[number] -= 1
            return httpx.Response(500, text="<Error>InternalError</Error>")
        if request.headers.get("Content-Type") != upload.content_type:
            return httpx.Response(403, text="<Error>SignatureDoesNotMatch</Error>")
        if len(request.content) != upload.part_length(number):
            return httpx.Response(400, text="<Error>IncompleteBody</Error>")
        upload.parts[number] = request.content
        return httpx.Response(200, headers={"ETag": etag_of(request.content)})

    def _complete(self, request: httpx.Request, upload_id: str) -> httpx.Response:
        upload = self.uploads[upload_id]
        parts = json.loads(request.content)["parts"]
        self.completions.append(parts)
        expected = [
            {"number": n, "etag": etag_of(upload.parts.get(n, b""))}
            for n in range(1, upload.count + 1)
        ]
        if parts != expected or set(upload.parts) != set(range(1, upload.count + 1)):
            return problem(409, "upload_incomplete", "parts missing, out of order or wrong")
        upload.data = b"".join(upload.parts[n] for n in sorted(upload.parts))
        if len(upload.data) != upload.size:
            return problem(409, "upload_incomplete", "the stored size differs")
        upload.status = "completed"
        return httpx.Response(200, json=self._upload_out(upload))

    # --- batches --------------------------------------------------------------------------

    def _post_batch(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.batch_requests.append(body)
        upload = self.uploads.get(body.get("upload_id", ""))
        if upload is None or upload.status != "completed":
            return problem(409, "upload_incomplete", "the upload is not complete")
        batch_id = self._new_id("b")
        items = [
            {"path": path, "job_id": self._new_job(path, batch_id, {})}
            for path in archive_members(upload.data)
        ]
        self.batches[batch_id] = {
            "id": batch_id,
            "status": "ingesting",
            "priority": body.get("priority"),
            "filename": upload.filename,
            "items": items,
            "metadata": body.get("metadata") or {},
        }
        headers = {"Location": f"/v1/batches/{batch_id}"}
        return httpx.Response(202, json=self._batch_out(batch_id), headers=headers)

    def _batch_out(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        jobs = [self.jobs[item["job_id"]] for item in batch["items"]]
        counts = {s: 0 for s in ("queued", "running", *PAGES_BY_STATUS)}
        for job in jobs:
            counts[job["status"]] += 1
        total = sum(j["pages_total"] for j in jobs)
        done = sum(j["pages_done"] for j in jobs)
        failed = sum(j["pages_failed"] for j in jobs)
        return {
            "id": batch_id,
            "status": batch["status"],
            "priority": batch["priority"],
            "filename": batch["filename"],
            "items_total": len(jobs),
            "items_skipped": 0,
            "jobs": counts,
            "pages_total": total,
            "pages_done": done,
            "pages_failed": failed,
            "progress": (done + failed) / total if total else 0.0,
            "eta_seconds": None if batch["status"] in PAGES_BY_STATUS else 42,
            "error": None,
            "metadata": batch["metadata"],
        }

    def _get_batch(self, _request: httpx.Request, batch_id: str) -> httpx.Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return problem(404, "not_found", f"no batch {batch_id!r}")
        for item in batch["items"]:
            self._advance_job(self.jobs[item["job_id"]])
        statuses = {self.jobs[item["job_id"]]["status"] for item in batch["items"]}
        batch["status"] = self.final_status if statuses <= set(PAGES_BY_STATUS) else "running"
        return self._polled(self._batch_out(batch_id))

    def _export(self, request: httpx.Request, batch_id: str) -> httpx.Response:
        batch = self.batches[batch_id]
        formats = request.url.params.get("format", "json").split(",")
        if formats == ["all"]:
            formats = list(SUFFIXES)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for item in batch["items"]:
                for fmt in formats:
                    archive.writestr(item["path"] + SUFFIXES[fmt], f"{fmt} of {item['path']}")
            manifest = {"batch_id": batch_id, "status": batch["status"], "items": batch["items"]}
            archive.writestr("manifest.json", json.dumps(manifest))
        return httpx.Response(
            200, content=out.getvalue(), headers={"Content-Type": "application/zip"}
        )


# --- the fake on a real socket ------------------------------------------------------------


def _handler_for(fake: FakeQuire) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = self.headers.get("Content-Length")
            if self.command in ("POST", "PUT") and length is None:
                self.send_error(411, "Content-Length required (no chunked bodies)")
                return
            body = self.rfile.read(int(length or 0))
            request = httpx.Request(
                self.command,
                fake.base_url + self.path,
                headers=list(self.headers.items()),
                content=body,
            )
            response = fake.handle(request)
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake(fake: FakeQuire) -> Iterator[str]:
    """Run ``fake`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    fake.base_url = fake.store_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- the fake's own contract rules --------------------------------------------------------


def _client(fake: FakeQuire) -> httpx.Client:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.Client(base_url=fake.base_url, transport=fake.transport(), headers=headers)


def test_fake_refuses_a_complete_with_a_part_missing() -> None:
    fake = FakeQuire(part_size=4)
    with _client(fake) as http:
        upload = http.post(
            "/v1/uploads",
            json={"filename": "a.zip", "size_bytes": 8, "content_type": "application/zip"},
        ).json()
        part = upload["parts"][0]
        etag = http.put(part["url"], content=b"1234", headers=part["headers"]).headers["ETag"]
        answer = http.post(
            f"/v1/uploads/{upload['id']}/complete", json={"parts": [{"number": 1, "etag": etag}]}
        )
    assert answer.status_code == 409
    assert answer.json()["code"] == "upload_incomplete"


def test_fake_requires_the_api_key() -> None:
    fake = FakeQuire()
    with httpx.Client(base_url=fake.base_url, transport=fake.transport()) as http:
        assert http.get("/v1/jobs/j1").status_code == 401


def test_fake_job_finishes_after_the_polls_it_was_told() -> None:
    fake = FakeQuire(polls_to_finish=2, final_status="partial")
    job_id = fake._new_job("a.png", None, {})
    with _client(fake) as http:
        first = http.get(f"/v1/jobs/{job_id}")
        second = http.get(f"/v1/jobs/{job_id}")
    assert (first.json()["status"], first.headers["Retry-After"]) == ("running", "1")
    assert second.json()["status"] == "partial"
    assert "Retry-After" not in second.headers
