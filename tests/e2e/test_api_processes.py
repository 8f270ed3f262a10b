"""``quire api --workers N``: N API processes serve one port, and all stop with it."""

from __future__ import annotations

import io

import httpx
import psutil
from PIL import Image

from tests.e2e.conftest import Stack, issue_key, wait_for


def png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (200, 40), 255).save(out, "PNG")
    return out.getvalue()


def servers_of(pid: int) -> list[psutil.Process]:
    """The spawned server processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(pid).children()
    return [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]


def test_two_api_processes_share_the_port_and_stop_together(
    stack: Stack, stack_env: dict[str, str]
) -> None:
    supervisor = stack.start("api", "api", "--port", str(stack.port), "--workers", "2")
    wait_for(stack._ready, 90, "the API to be ready")
    wait_for(lambda: len(servers_of(supervisor.pid)) == 2, 30, "two server processes")
    servers = servers_of(supervisor.pid)

    key = issue_key(stack_env["QUIRE_DATABASE_URL"], "two-processes")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        submitted = [
            client.post("/v1/jobs", files={"file": ("p.png", png(), "image/png")})
            for _ in range(12)
        ]
        polled = [client.get(f"/v1/jobs/{r.json()['id']}") for r in submitted]
    assert [r.status_code for r in submitted] == [202] * 12
    assert [r.status_code for r in polled] == [200] * 12

    assert stack.stop("api") == 0
    wait_for(lambda: not any(p.is_running() for p in servers), 30, "both processes to end")
