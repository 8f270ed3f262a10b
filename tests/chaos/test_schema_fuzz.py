"""Schema fuzzing: schemathesis generates requests from the app's own OpenAPI schema, valid
and invalid, for every operation, and sends them in-process to the API on real PostgreSQL,
Redis and the local store with a valid key. No request may end in a 5xx.

Bounded for the default run; ``QUIRE_CHAOS_FUZZ_EXAMPLES`` raises the examples per operation
and per phase (e.g. 500 for a long ``-m chaos`` run).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api.app import create_app
from shared.db.models import Upload
from shared.db.session import build_engine, build_sessionmaker, transaction
from shared.key_scopes import ALL_SCOPES
from shared.settings import Settings
from shared.tenancy import ensure_tenant, issue_api_key
from tests.batch_inputs import zip_of
from tests.conftest import text_image

pytestmark = pytest.mark.chaos
EXAMPLES = int(os.environ.get("QUIRE_CHAOS_FUZZ_EXAMPLES") or 40)
MIB = 1024 * 1024


@pytest.fixture
def fuzz_settings(
    make_settings: Callable[..., Settings], pg_database_url: str, redis_url: str
) -> Settings:
    # No rate limit: at its default the fuzzer would mostly meet 429 and reach no route.
    return make_settings(database_url=pg_database_url, redis_url=redis_url, rate_limit_per_minute=0)


@pytest.fixture
def fuzz_key(fuzz_settings: Settings) -> str:
    """A valid key with every scope (so /v1/keys is fuzzed past the 403 too)."""
    engine = build_engine(fuzz_settings.effective_database_url)
    with transaction(build_sessionmaker(engine)) as session:
        key = issue_api_key(
            session,
            ensure_tenant(session, "fuzz"),
            fuzz_settings.secret_key,
            scopes=ALL_SCOPES,
        )
    engine.dispose()
    return key


@pytest.fixture
def api_schema(fuzz_settings: Settings) -> Iterator[Any]:
    """The app's schema, loaded in-process; requests go to the app without a socket."""
    app = create_app(fuzz_settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    asyncio.run(app.state.quire.aclose())


@dataclass
class Fuzzed:
    """What one operation in one mode got: the status codes seen and any 5xx."""

    label: str
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    not_run: str = ""


def fuzz(
    operation: Any, mode: GenerationMode, headers: dict[str, str], ids: dict[str, str] | None = None
) -> Fuzzed:
    """Send EXAMPLES generated requests for ``operation``; every 5xx is kept, none stops it.

    ``ids`` fixes path parameters to existing objects, so the rest of the request is fuzzed
    past the 404 that random ids get.
    """
    on = " on real ids" if ids else ""
    seen = Fuzzed(f"{operation.method.upper()} {operation.path} ({mode.value}{on})")

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=ids))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # nothing raises, so nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        try:
            response = case.call(headers=headers)
            status, body = response.status_code, response.content[:300].decode(errors="replace")
        except Exception as e:  # the in-process client re-raises what the app did not handle
            status, body = 500, f"unhandled {type(e).__name__}: {e}"
        seen.statuses[status] += 1
        if status >= 500 and len(seen.server_errors) < 3:
            seen.server_errors.append(f"{status} {body}\n  {case.as_curl_command()}")

    try:
        send()
    except Unsatisfiable:  # e.g. a request without parameters or body cannot be made invalid
        seen.not_run = f"no {mode.value} example can be made"
    return seen


def existing_ids(app: Any, headers: dict[str, str]) -> dict[str, str]:
    """A queued job, an ingesting batch, a pending upload and a key of the fuzzing tenant."""
    client = TestClient(app)  # no lifespan: schemathesis already runs the app's
    page = ("page.png", text_image(["fuzz"]), "image/png")
    job = client.post("/v1/jobs", headers=headers, files={"file": page})
    archive = ("a.zip", zip_of({"a/page.png": page[1]}), "application/zip")
    batch = client.post("/v1/batches", headers=headers, files={"file": archive})
    upload = client.post(
        "/v1/uploads", headers=headers, json={"filename": "big.zip", "size_bytes": 12 * MIB}
    )
    key = client.post("/v1/keys", headers=headers, json={"name": "fuzzed"})  # not the fuzz key
    assert [job.status_code, batch.status_code, upload.status_code] == [202, 202, 201]
    assert key.status_code == 201
    made = {"job_id": job, "batch_id": batch, "upload_id": upload, "key_id": key}
    return {name: str(response.json()["id"]) for name, response in made.items()}


def test_no_operation_answers_5xx(
    api_schema: Any, fuzz_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, [op.path for op in operations]
    ids = existing_ids(api_schema.app, headers)
    results = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            results.append(fuzz(operation, mode, headers))
        names = set(re.findall(r"{(\w+)}", operation.path)) & set(ids)
        if names:
            real = {name: ids[name] for name in names}
            results.append(fuzz(operation, GenerationMode.POSITIVE, headers, real))
    lines = [f"{r.label:<72} {r.not_run or dict(sorted(r.statuses.items()))}" for r in results]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    errors = [f"{r.label}: {e}" for r in results for e in r.server_errors]
    assert not errors, "\n".join(errors)
    assert sum(sum(r.statuses.values()) for r in results) >= len(operations) * EXAMPLES


# --- what fuzzing found, pinned -------------------------------------------------------------


@pytest.fixture
def api_client(fuzz_settings: Settings, fuzz_key: str) -> Iterator[TestClient]:
    headers = {"Authorization": f"Bearer {fuzz_key}"}
    with TestClient(create_app(fuzz_settings), raise_server_exceptions=False) as client:
        client.headers.update(headers)
        yield client


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [
        # hmac.compare_digest refused a str with non-ASCII characters: TypeError, 500
        ("PUT", "/v1/uploads/u/parts/1?expires=1&signature=%C3%A9", None, 401, "unauthorized"),
        # PostgreSQL text cannot hold NUL: psycopg DataError, 500
        ("GET", "/v1/webhook-deliveries?job_id=%C2%AA%00", None, 422, "invalid_request"),
        ("GET", "/v1/jobs/a%00b", None, 422, "invalid_request"),
        ("GET", "/v1/batches/a%00b/items?cursor=x", None, 422, "invalid_request"),
        ("POST", "/v1/uploads", {"filename": "a\x00.zip", "size_bytes": 9}, 422, "invalid_request"),
        ("POST", "/v1/batches", {"upload_id": "\x00"}, 422, "invalid_request"),
    ],
)
def test_fuzzing_findings_answer_4xx(
    api_client: TestClient, method: str, url: str, body: Any, status: int, code: str
) -> None:
    response = api_client.request(method, url, json=body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text


def test_nul_in_an_uploaded_filename_is_dropped(api_client: TestClient) -> None:
    boundary = "fuzzboundary"
    head = 'Content-Disposition: form-data; name="file"; filename="a\x00b.png"'
    body = (
        f"--{boundary}\r\n{head}\r\nContent-Type: image/png\r\n\r\n".encode()
        + text_image(["nul"])
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api_client.post(
        "/v1/jobs",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == "ab.png"  # control characters are dropped
    assert api_client.get(f"/v1/jobs/{response.json()['id']}").status_code == 200


def test_a_commit_that_fails_is_not_answered_2xx(
    api_client: TestClient, fuzz_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session used to commit after the response was sent: a 201 for an upload that was
    never stored (found as a NUL filename that PostgreSQL refused at commit)."""

    def lose_the_database(session: Session, *_: Any) -> None:
        if any(isinstance(row, Upload) for row in session.new):
            raise OperationalError("INSERT INTO uploads", {}, Exception("server closed"))

    event.listen(Session, "before_flush", lose_the_database)
    try:
        response = api_client.post("/v1/uploads", json={"filename": "lost.zip", "size_bytes": 9})
    finally:
        event.remove(Session, "before_flush", lose_the_database)
    assert (response.status_code, response.json()["code"]) == (503, "database_unavailable")
    engine = build_engine(fuzz_settings.effective_database_url)
    with build_sessionmaker(engine)() as session:
        stored = select(func.count()).where(Upload.filename == "lost.zip")
        assert session.scalar(stored) == 0
    engine.dispose()
