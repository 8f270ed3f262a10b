"""ECS task scale-in protection: a worker holding pages asks ECS not to stop it.

On ECS the agent publishes ``ECS_AGENT_URI``; ``PUT $ECS_AGENT_URI/task-protection/v1/state``
turns protection on (with an expiry, so a hung worker cannot block scale-in forever) or off.
Elsewhere there is no agent and this is a no-op.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import httpx

log = logging.getLogger("quire.protection")
EXPIRES_IN_MINUTES = 15
REFRESH_SECONDS = 300.0


class ScaleInProtection:
    """Keeps the task's protection in step with whether it holds pages."""

    def __init__(self, agent_uri: str | None = None, client: httpx.Client | None = None):
        self.agent_uri = agent_uri if agent_uri is not None else os.environ.get("ECS_AGENT_URI")
        self.client = client or httpx.Client(timeout=5.0)
        self.protected = False
        self._refreshed = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.agent_uri)

    def update(self, holding_pages: bool, now: float | None = None) -> None:
        """Call on every heartbeat; talks to the agent only on a change or to refresh."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        stale = holding_pages and now - self._refreshed >= REFRESH_SECONDS
        if holding_pages == self.protected and not stale:
            return
        body: dict[str, object] = {"ProtectionEnabled": holding_pages}
        if holding_pages:
            body["ExpiresInMinutes"] = EXPIRES_IN_MINUTES
        try:
            response = self.client.put(f"{self.agent_uri}/task-protection/v1/state", json=body)
            response.raise_for_status()
        except httpx.HTTPError as e:
            log.warning("could not set scale-in protection to %s: %s", holding_pages, e)
            return
        self.protected, self._refreshed = holding_pages, now


def protect_while(
    busy: Callable[[], bool],
    stop: threading.Event,
    interval: float = 10.0,
    protection: ScaleInProtection | None = None,
) -> threading.Thread | None:
    """Keep protection in step with ``busy()`` on a daemon thread until ``stop`` is set (the
    training worker, whose trainings run in its pool's children: it asks the database);
    None where there is no ECS agent."""
    guard = protection or ScaleInProtection()
    if not guard.enabled:
        return None

    def loop() -> None:
        while not stop.is_set():
            try:
                guard.update(busy())
            except Exception as e:  # the database may be down for a moment
                log.warning("scale-in protection check failed: %s", e)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="scale-in-protection", daemon=True)
    thread.start()
    return thread
