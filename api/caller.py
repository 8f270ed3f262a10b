"""Who sent a request, and a short memory of keys already verified.

Every request presents an API key; looking it up costs a database round trip, which on the
submit path is a large share of the work. A verified key is remembered for
``QUIRE_API_KEY_CACHE_SECONDS`` (per API process), so a key revoked in the database stops
working within that time (at once in the process that revoked it); unknown keys are never
remembered, so a new key works at once. A remembered key's expiry is checked on every request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.key_scopes import DEFAULT_SCOPES, KeyScope

MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class TenantRef:
    """The caller's tenant, as the routes need it."""

    id: str
    name: str


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the tenant, the id of the key it used, what that key may do
    and when it stops working (None: never)."""

    tenant: TenantRef
    key_id: str
    scopes: frozenset[KeyScope] = DEFAULT_SCOPES
    expires_at: datetime | None = None


class CallerCache:
    """Verified callers by key digest, each kept ``ttl`` seconds (0: nothing is kept)."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = MAX_CACHED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Caller | None:
        """The caller verified under ``digest``, unless it was verified too long ago."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, digest: str, caller: Caller) -> None:
        """Remember a caller just verified; the oldest entry goes when the cache is full."""
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[digest] = (self._clock() + self.ttl, caller)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget_key(self, key_id: str) -> None:
        """Drop the entry of a key just revoked, so this process refuses it at once."""
        with self._lock:
            stale = [d for d, (_, caller) in self._entries.items() if caller.key_id == key_id]
            for digest in stale:
                del self._entries[digest]
