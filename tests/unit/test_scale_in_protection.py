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


def test_protect_while_follows_busy_and_stops() -> None:
    import threading
    import time

    from worker.scaling.protection import protect_while

    calls, client = agent()
    busy = [True]
    stop = threading.Event()
    thread = protect_while(
        lambda: busy[0], stop, interval=0.01, protection=ScaleInProtection("http://a", client)
    )
    assert thread is not None
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    busy[0] = False
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert calls[:2] == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": EXPIRES_IN_MINUTES},
        {"ProtectionEnabled": False},
    ]
    assert protect_while(lambda: True, stop, protection=ScaleInProtection("")) is None


def test_the_heartbeat_hands_its_count_to_on_beat() -> None:
    import threading
    import time

    from worker.heartbeat import InFlight, start_heartbeat

    class Keys:  # the two calls a heartbeat makes
        def set(self, *_args: object, **_kwargs: object) -> None: ...

        def delete(self, *_args: object) -> None: ...

    seen: list[int] = []
    pages, stop = InFlight(), threading.Event()
    pages.add(2)
    thread = start_heartbeat(
        Keys(),  # type: ignore[arg-type]
        "gpu",
        "w",
        pages,
        stop,
        interval=0.01,
        on_beat=seen.append,
    )
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(5)
    assert seen and seen[0] == 2
