"""Duplicate uploads without services: the policy, the choice of earlier job, the digests."""

from __future__ import annotations

import hashlib
import io
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from api.submission import options_from_json, parse_options
from shared.duplicates import Candidate, choose_earlier, decide, parse_policy
from shared.errors import DuplicateContent, DuplicateUpload, InvalidRequest
from shared.settings import DuplicatePolicy, Settings
from worker.archives import SkipCode
from worker.content_digest import digesting

T0 = datetime(2026, 12, 1, tzinfo=UTC)
PROCESS, REUSE, REJECT = DuplicatePolicy.PROCESS, DuplicatePolicy.REUSE, DuplicatePolicy.REJECT


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [
        (None, PROCESS, PROCESS),
        ("", REJECT, REJECT),
        ("reuse", PROCESS, REUSE),
        ("reject", REUSE, REJECT),
        ("process", REJECT, PROCESS),
    ],
)
def test_parse_policy(
    value: str | None, default: DuplicatePolicy, expected: DuplicatePolicy
) -> None:
    assert parse_policy(value, default) is expected


@pytest.mark.parametrize("value", ["Reuse", "skip", "warn", " reuse"])
def test_parse_policy_refuses_other_names(value: str) -> None:
    with pytest.raises(InvalidRequest, match="on_duplicate must be 'process', 'reuse' or"):
        parse_policy(value, PROCESS)


def test_the_setting_reads_quire_on_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().on_duplicate is PROCESS
    monkeypatch.setenv("QUIRE_ON_DUPLICATE", "reuse")
    assert Settings().on_duplicate is REUSE
    monkeypatch.setenv("QUIRE_ON_DUPLICATE", "sometimes")
    with pytest.raises(ValueError, match="on_duplicate"):
        Settings()


def test_submit_options_take_the_field_or_the_setting() -> None:
    strict = Settings(on_duplicate=REJECT)
    assert parse_options({}, strict).on_duplicate is REJECT
    assert parse_options({"on_duplicate": "reuse"}, strict).on_duplicate is REUSE
    assert parse_options({}, Settings()).on_duplicate is PROCESS
    assert options_from_json("bulk", None, {}, strict).on_duplicate is REJECT
    assert options_from_json("bulk", None, {}, strict, "process").on_duplicate is PROCESS
    with pytest.raises(InvalidRequest):
        parse_options({"on_duplicate": "nope"}, strict)


def candidate(
    job_id: str,
    *,
    tenant: str = "t1",
    status: str = "succeeded",
    age_minutes: int = 0,
    pages: int = 1,
    with_results: int | None = None,
) -> Candidate:
    created = T0 - timedelta(minutes=age_minutes)
    done = pages if with_results is None else with_results
    return Candidate(job_id, tenant, status, created, pages, done)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], None),
        ([candidate("a")], "a"),
        ([candidate("old", age_minutes=5), candidate("new", age_minutes=1)], "new"),
        ([candidate("new", status="failed"), candidate("old", age_minutes=9)], "old"),
        ([candidate("run", status="running"), candidate("q", status="queued")], None),
        ([candidate("part", status="partial"), candidate("c", status="canceled")], None),
        # Pages gone (deleted or purged) or missing their text: the result no longer exists.
        ([candidate("purged", pages=3, with_results=2), candidate("ok", age_minutes=3)], "ok"),
        ([candidate("empty", pages=0)], None),
        # Another tenant's job never matches, however new.
        ([candidate("theirs", tenant="t2"), candidate("mine", age_minutes=60)], "mine"),
        ([candidate("theirs", tenant="t2")], None),
        # Same creation time: the choice is still stable.
        ([candidate("a"), candidate("b")], "b"),
    ],
)
def test_choose_earlier(candidates: list[Candidate], expected: str | None) -> None:
    assert choose_earlier("t1", candidates) == expected
    assert choose_earlier("t1", list(reversed(candidates))) == expected


@pytest.mark.parametrize(
    ("policy", "earlier", "action"),
    [
        (PROCESS, "a", PROCESS),
        (REUSE, "a", REUSE),
        (REJECT, "a", REJECT),
        (REUSE, None, PROCESS),
        (REJECT, None, PROCESS),
    ],
)
def test_decide(policy: DuplicatePolicy, earlier: str | None, action: DuplicatePolicy) -> None:
    assert decide(policy, earlier) is action


def test_duplicate_errors_are_409_problems_naming_the_earlier_job() -> None:
    problem = DuplicateUpload("seen before", duplicate_of="job-1").to_problem()
    assert problem["status"] == 409 and problem["code"] == "duplicate_upload"
    assert problem["duplicate_of"] == "job-1"
    assert DuplicateContent.code == SkipCode.DUPLICATE_CONTENT == "duplicate_content"
    assert issubclass(DuplicateContent, DuplicateUpload)


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 300_001])
def test_digesting_stream_hashes_what_is_copied(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    stream, digest = digesting(io.BufferedReader(io.BytesIO(data)))
    out = io.BytesIO()
    shutil.copyfileobj(stream, out, 10_000)
    assert out.getvalue() == data
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
