"""Webhook retry decisions: what counts as success, when to try again, when to stop."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.egress import Reply
from worker.webhook_delivery import classify, next_attempt, retry_after_seconds

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = [5.0, 300.0, 1800.0]


def reply(status: int, **headers: str) -> Reply:
    return Reply(status=status, headers=headers, body=b"")


@pytest.mark.parametrize(
    ("answer", "refused", "expected"),
    [
        (reply(200), False, "delivered"),
        (reply(204), False, "delivered"),
        (reply(299), False, "delivered"),
        (reply(300), False, "retry"),
        (reply(302), False, "retry"),
        (reply(400), False, "retry"),
        (reply(410), False, "gone"),
        (reply(500), False, "retry"),
        (None, False, "retry"),
        (None, True, "refused"),
    ],
)
def test_classify(answer: Reply | None, refused: bool, expected: str) -> None:
    assert classify(answer, refused) == expected


@pytest.mark.parametrize(("attempts", "base"), [(1, 5.0), (2, 300.0), (3, 1800.0)])
def test_schedule_with_jitter(attempts: int, base: float) -> None:
    due = next_attempt(SCHEDULE, attempts, reply(500), NOW, random.Random(1))
    assert due is not None
    assert base * 0.8 <= (due - NOW).total_seconds() <= base * 1.2


def test_schedule_used_up_means_give_up() -> None:
    assert next_attempt(SCHEDULE, len(SCHEDULE) + 1, reply(500), NOW) is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_and_capped(status: int) -> None:
    due = next_attempt(SCHEDULE, 1, reply(status, **{"retry-after": "120"}), NOW)
    assert due is not None and (due - NOW).total_seconds() >= 120
    late = next_attempt(SCHEDULE, 1, reply(status, **{"retry-after": "999999"}), NOW)
    assert late == NOW + timedelta(days=1)


def test_retry_after_ignored_for_other_statuses() -> None:
    due = next_attempt(SCHEDULE, 1, reply(500, **{"retry-after": "120"}), NOW)
    assert due is not None and (due - NOW).total_seconds() <= 6


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (" 7 ", 7.0),
        (None, 0.0),
        ("soon", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("-5", 0.0),
    ],
)
def test_retry_after_parsing(value: str | None, seconds: float) -> None:
    assert retry_after_seconds(value) == seconds


def test_default_schedule_spans_about_three_days() -> None:
    from shared.settings import Settings

    total = sum(Settings().retry_schedule)
    assert 2.5 * 86400 <= total <= 3.5 * 86400
