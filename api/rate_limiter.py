"""Per-key rate limiting in Redis, shared by every API process, and its response headers.

One Lua script reads and advances a key's bucket atomically, on Redis's clock (API hosts'
clocks may differ). If Redis cannot be reached the limiter fails open: requests are served
without a limit and a warning is logged, rather than every request turning into a 5xx.

The check runs on the event loop with an asyncio Redis client: it is on every request, and a
trip to the thread pool costs more than the command itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.rate_limit import Decision, RatePolicy, gcra_step, rate_limit_headers
from shared.redis_client import async_redis_from_url
from shared.settings import Settings

log = logging.getLogger("quire.api")
KEY_PREFIX = "quire:ratelimit:"
REDIS_TIMEOUT_S = 0.5
# After a failure Redis is left alone this long, so an outage costs one timeout, not one
# per request.
FAIL_OPEN_PAUSE_S = 5.0
STATE_HEADERS = "rate_limit_headers"

# KEYS[1]: the bucket. ARGV: seconds per request, burst, and "now" in seconds (empty: the
# Redis clock; tests pass a fake one). The same arithmetic as api.rate_limit.gcra_step on the
# same rounded inputs, so the caller recomputes the decision from {stored tat or "", now}.
GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000))
end
local stored = redis.call('GET', KEYS[1])
local tat = tonumber(stored) or now
if tat < now then tat = now end
local new_tat = tat + interval
if now >= new_tat - interval * burst then
  local ttl_ms = math.ceil((new_tat - now) * 1000)
  redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl_ms)
end
return {stored or '', string.format('%.6f', now)}
"""


class RateLimiter(Protocol):
    """Decides whether a key may make one more request."""

    async def check(self, key_id: str) -> Decision | None:
        """The decision for one request, or None when no limit applies."""
        ...

    def headers(self, decision: Decision) -> dict[str, str]:
        """The RateLimit headers of a decision."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class NoRateLimit:
    """``QUIRE_RATE_LIMIT_PER_MINUTE=0``: every request is allowed, no headers are sent."""

    async def check(self, key_id: str) -> Decision | None:
        return None

    def headers(self, decision: Decision) -> dict[str, str]:
        return {}

    async def aclose(self) -> None:
        return None


class RedisRateLimiter:
    """GCRA buckets in Redis, one per API key id."""

    def __init__(self, connect: Callable[[], redis.asyncio.Redis], policy: RatePolicy) -> None:
        self.policy = policy
        self._connect = connect
        self._client: redis.asyncio.Redis | None = None
        self._script: AsyncScript | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused_until = 0.0

    def _script_on_this_loop(self) -> AsyncScript:
        # An asyncio client belongs to the loop it first ran on; a server runs one loop for
        # its life, a test client one per session, so a new loop gets a new client.
        loop = asyncio.get_running_loop()
        if self._script is None or self._loop is not loop:
            self._client, self._loop = self._connect(), loop
            self._script = self._client.register_script(GCRA_SCRIPT)
        return self._script

    async def check(self, key_id: str) -> Decision | None:
        """The decision for one request of ``key_id``; None (no limit) if Redis is down."""
        if time.monotonic() < self._paused_until:
            return None
        try:
            return await self.check_at(key_id, None)
        except RedisError as e:
            self._paused_until = time.monotonic() + FAIL_OPEN_PAUSE_S
            log.warning("rate limiter unavailable, serving without a limit: %s", e)
            return None

    async def check_at(self, key_id: str, now: float | None) -> Decision:
        """One request at ``now`` (None: the Redis clock); raises ``RedisError``."""
        at_time = "" if now is None else f"{now:.6f}"
        args: list[str | float] = [self.policy.interval, self.policy.burst, at_time]
        stored, at = await self._script_on_this_loop()(keys=[KEY_PREFIX + key_id], args=args)
        decision, _ = gcra_step(float(stored) if stored else None, float(at), self.policy)
        return decision

    def headers(self, decision: Decision) -> dict[str, str]:
        """The RateLimit headers of a decision under this limiter's policy."""
        return rate_limit_headers(decision, self.policy)

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()  # type: ignore[attr-defined]  # stubs predate aclose
        self._client, self._script, self._loop = None, None, None


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """The limiter the settings ask for: off at 0 or without a Redis URL."""
    if settings.rate_limit_per_minute == 0:
        return NoRateLimit()
    if not settings.redis_url:
        log.warning("no QUIRE_REDIS_URL: API keys are not rate limited")
        return NoRateLimit()
    url = settings.redis_url
    policy = RatePolicy(settings.rate_limit_per_minute, settings.rate_limit_burst)
    return RedisRateLimiter(
        lambda: async_redis_from_url(url, REDIS_TIMEOUT_S, REDIS_TIMEOUT_S), policy
    )


def remember_headers(scope: Scope, headers: dict[str, str]) -> None:
    """Keep a request's RateLimit headers for ``RateLimitHeaders`` to send."""
    scope.setdefault("state", {})[STATE_HEADERS] = headers


class RateLimitHeaders:
    """ASGI middleware: adds the RateLimit headers of the request's decision, whatever the
    response (a route's model, a stream, or a problem+json error)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get(STATE_HEADERS)
                if extra:
                    headers = MutableHeaders(scope=message)
                    for name, value in extra.items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
