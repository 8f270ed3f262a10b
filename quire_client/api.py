"""A small typed client for quire's v1 REST API (jobs, batches, presigned uploads, datasets,
trainings and models).

Every call either returns a typed resource or raises a ``ClientError``: problem+json
answers become ``ApiError``; 429 and 503 are retried after their ``Retry-After``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from quire_client.errors import ApiError, ClientError, ServerUnreachable, TransportFailed
from quire_client.models import Batch, Job, Resource, Upload
from quire_client.multipart import file_form
from quire_client.retry import API_ATTEMPTS, retry_after_seconds, retry_wait
from quire_client.streams import CountedBody, ProgressHook
from quire_client.training_resources import Dataset, Model, Training

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "quire-client/0.1"
RETRY_STATUSES = frozenset({429, 503})


def api_error(response: httpx.Response) -> ApiError:
    """The error an error response stands for; reads its problem+json body if it has one."""
    body: Any = None
    try:
        body = json.loads(response.read() or b"null")
    except (ValueError, httpx.HTTPError):
        body = None
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or f"http_{response.status_code}")
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase or "error")
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    return ApiError(response.status_code, code, detail, retry_after)


class QuireApi:
    """The v1 API of one quire server, for one API key.

    Args:
        base_url: For example ``http://127.0.0.1:8000``.
        api_key: Sent as ``Authorization: Bearer``; never sent to presigned URLs.
        timeout: Seconds for connecting and for each read or write.
        transport: An httpx transport (tests pass ``httpx.MockTransport``).
        sleep: How to wait before a retry (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"User-Agent": USER_AGENT}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )
        # Presigned URLs carry their own credential; an API key would only leak to the store.
        self._store = httpx.Client(
            headers={"User-Agent": USER_AGENT}, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()
        self._store.close()

    def __enter__(self) -> QuireApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the wire -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: CountedBody | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        for attempt in range(1, API_ATTEMPTS + 1):
            request = self._http.build_request(
                method,
                path,
                params=params,
                json=json_body,
                content=None if body is None else body(),
                headers=headers,
            )
            response = self._attempt(request, stream)
            if response.status_code in RETRY_STATUSES and attempt < API_ATTEMPTS:
                response.close()
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                self.sleep(retry_wait(attempt, wait))
                continue
            if response.is_error:
                error = api_error(response)
                response.close()
                raise error
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, request: httpx.Request, stream: bool) -> httpx.Response:
        try:
            return self._http.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise ServerUnreachable(
                f"cannot connect to the quire server at {self.base_url} ({e}); "
                "is it running? (--url or QUIRE_URL)"
            ) from e
        except httpx.TransportError as e:
            raise TransportFailed(f"{request.method} {request.url.path} failed: {e}") from e

    def _json(self, method: str, path: str, **kwargs: Any) -> tuple[dict[str, Any], float | None]:
        response = self._send(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as e:
            raise ClientError(f"{method} {path}: the server did not answer JSON") from e
        return body, retry_after_seconds(response.headers.get("Retry-After"))

    # --- jobs and batches -----------------------------------------------------------------

    def submit_job(
        self,
        path: Path,
        *,
        fields: Mapping[str, str],
        media_type: str = "application/octet-stream",
        on_bytes: ProgressHook | None = None,
    ) -> Job:
        """``POST /v1/jobs``: one document, streamed from disk.

        Args:
            path: The image, PDF or TIFF.
            fields: Optional form fields: ``priority``, ``callback_url``, ``metadata``,
                ``model``.
            media_type: The file's media type.
            on_bytes: Called as file bytes are sent (an upload progress bar).
        """
        form = file_form(path, fields, media_type=media_type, on_bytes=on_bytes)
        headers = {"Content-Type": form.content_type, "Content-Length": str(form.length)}
        body, retry_after = self._json("POST", "/v1/jobs", body=form.body, headers=headers)
        return Job.from_json(body, retry_after)

    def get_job(self, job_id: str) -> Job:
        """``GET /v1/jobs/{id}``."""
        return Job.from_json(*self._json("GET", f"/v1/jobs/{job_id}"))

    def get_batch(self, batch_id: str) -> Batch:
        """``GET /v1/batches/{id}``."""
        return Batch.from_json(*self._json("GET", f"/v1/batches/{batch_id}"))

    def list_pages(
        self, path: str, params: Mapping[str, Any], limit: int
    ) -> Iterator[list[dict[str, Any]]]:
        """``GET /v1/jobs`` or ``/v1/batches``: each page's items, following ``next_cursor``
        until the last page (stop iterating to stop asking)."""
        cursor: str | None = None
        while True:
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            body, _ = self._json("GET", path, params=query)
            yield list(body.get("items") or [])
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def get_resource(self, reference: str) -> Resource:
        """A job or batch: ``job:ID``, ``batch:ID``, or a bare id (jobs first, then batches)."""
        kind, _, ident = reference.partition(":")
        if ident and kind == "job":
            return self.get_job(ident)
        if ident and kind == "batch":
            return self.get_batch(ident)
        try:
            return self.get_job(reference)
        except ApiError as e:
            if e.status != 404:
                raise
        return self.get_batch(reference)

    def refresh(self, resource: Resource) -> Resource:
        """The current state of a job or batch."""
        if isinstance(resource, Job):
            return self.get_job(resource.id)
        return self.get_batch(resource.id)

    def create_batch(
        self,
        upload_id: str,
        *,
        priority: str = "bulk",
        callback_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        model: str | None = None,
    ) -> Batch:
        """``POST /v1/batches`` for an archive sent through ``/v1/uploads``; ``model`` (a model
        id or shipped name, or detector+recognizer) instead of the tenant's defaults."""
        payload = {
            "upload_id": upload_id,
            "priority": priority,
            "callback_url": callback_url,
            "metadata": dict(metadata or {}),
            **({"model": model} if model else {}),
        }
        return Batch.from_json(*self._json("POST", "/v1/batches", json_body=payload))

    @contextmanager
    def open_job_result(
        self, job_id: str, fmt: str, page: int | None = None
    ) -> Iterator[httpx.Response]:
        """``GET /v1/jobs/{id}/result``, streamed; ``page`` (0-based) for PAGE XML."""
        params: dict[str, str | int] = {"format": fmt}
        if page is not None:
            params["page"] = page
        response = self._send("GET", f"/v1/jobs/{job_id}/result", params=params, stream=True)
        try:
            yield response
        finally:
            response.close()

    @contextmanager
    def open_batch_export(self, batch_id: str, formats: list[str]) -> Iterator[httpx.Response]:
        """``GET /v1/batches/{id}/export``: a zip, streamed."""
        params = {"format": ",".join(formats)}
        response = self._send("GET", f"/v1/batches/{batch_id}/export", params=params, stream=True)
        try:
            yield response
        finally:
            response.close()

    # --- presigned uploads ----------------------------------------------------------------

    def create_upload(self, filename: str, size_bytes: int, content_type: str) -> Upload:
        """``POST /v1/uploads``: announce a file; the answer says how to send its parts."""
        payload = {"filename": filename, "size_bytes": size_bytes, "content_type": content_type}
        return Upload.from_json(self._json("POST", "/v1/uploads", json_body=payload)[0])

    def get_upload(self, upload_id: str) -> Upload:
        """``GET /v1/uploads/{id}``: fresh part URLs and the parts already stored."""
        return Upload.from_json(self._json("GET", f"/v1/uploads/{upload_id}")[0])

    def complete_upload(self, upload_id: str, etags: Mapping[int, str]) -> Upload:
        """``POST /v1/uploads/{id}/complete`` with every part's ETag, in part order."""
        parts = [{"number": n, "etag": etags[n]} for n in sorted(etags)]
        path = f"/v1/uploads/{upload_id}/complete"
        return Upload.from_json(self._json("POST", path, json_body={"parts": parts})[0])

    def put_part(self, url: str, headers: Mapping[str, str], body: CountedBody, length: int) -> str:
        """``PUT`` one part to its presigned URL, with exactly the headers given.

        Returns:
            The ``ETag`` the store answered.

        Raises:
            ApiError: The store refused the part (401/403: the URL expired).
            TransportFailed: The connection failed or broke.
        """
        target = str(self._http.base_url.join(url)) if url.startswith("/") else url
        request = self._store.build_request(
            "PUT", target, content=body(), headers={**headers, "Content-Length": str(length)}
        )
        try:
            response = self._store.send(request)
        except httpx.TransportError as e:
            raise TransportFailed(f"PUT of an upload part failed: {e}") from e
        if response.is_error:
            raise api_error(response)
        etag = response.headers.get("ETag")
        if not etag:
            raise ClientError("the store answered a part upload without an ETag")
        return etag

    # --- datasets, trainings and models ---------------------------------------------------

    def create_dataset(
        self,
        path: Path,
        *,
        name: str | None,
        media_type: str,
        idempotency_key: str,
        on_bytes: ProgressHook | None = None,
    ) -> Dataset:
        """``POST /v1/datasets``: a zip or tar of page images with PAGE XML or ALTO, streamed.

        Args:
            path: The archive.
            name: The dataset's name (default: the archive's file name).
            media_type: The archive's media type.
            idempotency_key: Sent as ``Idempotency-Key``: a retried request makes one dataset.
            on_bytes: Called as file bytes are sent (an upload progress bar).
        """
        form = file_form(
            path, {"name": name} if name else {}, media_type=media_type, on_bytes=on_bytes
        )
        headers = {
            "Content-Type": form.content_type,
            "Content-Length": str(form.length),
            "Idempotency-Key": idempotency_key,
        }
        body, retry_after = self._json("POST", "/v1/datasets", body=form.body, headers=headers)
        return Dataset.from_json(body, retry_after)

    def dataset_from_batch(
        self, batch_id: str, *, name: str | None, idempotency_key: str
    ) -> Dataset:
        """``POST /v1/datasets`` with ``from_batch``: a batch's pages with their current text."""
        payload = {"from_batch": batch_id, **({"name": name} if name else {})}
        headers = {"Idempotency-Key": idempotency_key}
        body, retry_after = self._json("POST", "/v1/datasets", json_body=payload, headers=headers)
        return Dataset.from_json(body, retry_after)

    def get_dataset(self, dataset_id: str) -> Dataset:
        """``GET /v1/datasets/{id}``."""
        return Dataset.from_json(*self._json("GET", f"/v1/datasets/{dataset_id}"))

    def delete(self, path: str) -> None:
        """``DELETE`` a dataset or model (``/v1/datasets/{id}``, ``/v1/models/{id}``)."""
        self._send("DELETE", path).close()

    def create_training(self, payload: Mapping[str, Any], idempotency_key: str) -> Training:
        """``POST /v1/trainings`` with the request's JSON (the server fills in defaults)."""
        headers = {"Idempotency-Key": idempotency_key}
        body, retry_after = self._json(
            "POST", "/v1/trainings", json_body=dict(payload), headers=headers
        )
        return Training.from_json(body, retry_after)

    def get_training(self, training_id: str) -> Training:
        """``GET /v1/trainings/{id}``: its status, every epoch's figures and an ETA."""
        return Training.from_json(*self._json("GET", f"/v1/trainings/{training_id}"))

    def cancel_training(self, training_id: str) -> Training:
        """``POST /v1/trainings/{id}/cancel``: a running one stops after its current epoch."""
        return Training.from_json(*self._json("POST", f"/v1/trainings/{training_id}/cancel"))

    def list_models(self) -> list[Model]:
        """``GET /v1/models``: the shipped models, then the tenant's trained ones."""
        body, _ = self._json("GET", "/v1/models")
        return [Model.from_json(item) for item in body.get("items") or []]

    def promote_model(self, model_id: str) -> Model:
        """``POST /v1/models/{id}/promote``: the tenant's default of its kind from now on."""
        return Model.from_json(self._json("POST", f"/v1/models/{model_id}/promote")[0])
