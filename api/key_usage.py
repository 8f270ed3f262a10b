"""When each API key was last used, written at most once a minute per key.

A busy key sends hundreds of requests a second; writing its row on each would make every
request a database write. Each API process remembers when it last recorded a key and writes
again only ``interval`` seconds later; the UPDATE itself skips a row another process wrote
within the interval, so the row changes at most once per interval whatever the process count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update

from shared.db.models import ApiKey
from shared.db.session import connection
from shared.errors import DependencyUnavailable

LAST_USED_INTERVAL_S = 60.0
MAX_TRACKED_KEYS = 10_000
log = logging.getLogger("quire.api")


class UsageThrottle:
    """Says when a key's use is due to be written: once per ``interval`` seconds per key."""

    def __init__(
        self,
        interval: float = LAST_USED_INTERVAL_S,
        max_entries: int = MAX_TRACKED_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.max_entries = max_entries
        self._clock = clock
        self._written: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def due(self, key_id: str) -> bool:
        """Whether to write this use of ``key_id``; a True answer counts as the write."""
        now = self._clock()
        with self._lock:
            last = self._written.get(key_id)
            if last is not None and now - last < self.interval:
                return False
            self._written[key_id] = now
            self._written.move_to_end(key_id)
            while len(self._written) > self.max_entries:
                self._written.popitem(last=False)
            return True


def record_last_used(engine: Engine, key_id: str, now: datetime, interval: float) -> None:
    """Set the key's ``last_used_at`` to ``now`` unless it was set within ``interval``.

    Best effort: a database that cannot take the write costs the request nothing.
    """
    statement = (
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < now - timedelta(seconds=interval),
            ),
        )
        .values(last_used_at=now)
    )
    try:
        with connection(engine, autocommit=True) as conn:
            conn.execute(statement)
            conn.commit()
    except DependencyUnavailable as e:
        log.warning("last use of API key %s not recorded: %s", key_id, e.message)
