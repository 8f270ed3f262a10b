"""Scale-in protection follows whether the worker holds pages; a no-op off ECS."""

from __future__ import annotations

import json

import httpx

from worker.scaling.protection import EXPIRES_IN_MINUTES, REFRESH_SECONDS, ScaleInProtection


def agent() -> tuple[list[dict], httpx.Client]:
    calls: list[dict] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.method == "PUT" and request.url.path == "/task-protection/v1/state"
        calls.append(json.loads(request.content))
        return httpx.Response(200, json={"protection": {}})

    return calls, httpx.Client(transport=httpx.MockTransport(handle))


def test_no_agent_no_calls() -> None:
    protection = ScaleInProtection(agent_uri="")
    protection.update(True)
    assert not protection.enabled and not protection.protected


def test_protection_follows_pages_and_only_calls_on_change() -> None:
    calls, client = agent()
    protection = ScaleInProtection("http://agent", client)
    protection.update(False, now=0)
    protection.update(True, now=1)
    protection.update(True, now=2)
    protection.update(False, now=3)
    assert calls == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": EXPIRES_IN_MINUTES},
        {"ProtectionEnabled": False},
    ]


def test_long_work_refreshes_before_expiry() -> None:
    calls, client = agent()
    protection = ScaleInProtection("http://agent", client)
    protection.update(True, now=0)
    protection.update(True, now=REFRESH_SECONDS + 1)
    assert len(calls) == 2 and REFRESH_SECONDS < EXPIRES_IN_MINUTES * 60


def test_agent_errors_are_logged_and_retried() -> None:
    failures = {"left": 1}

    def flaky(request: httpx.Request) -> httpx.Response:
        if failures["left"]:
            failures["left"] -= 1
            return httpx.Response(500)
        return httpx.Response(200)

    protection = ScaleInProtection(
        "http://agent", httpx.Client(transport=httpx.MockTransport(flaky))
    )
    protection.update(True, now=0)
    assert not protection.protected
    protection.update(True, now=1)
    assert protection.protected
