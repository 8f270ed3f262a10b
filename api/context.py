"""Everything the API process builds once at start and hands to its routes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.caller import CallerCache
from api.key_usage import UsageThrottle
from api.presign import Presigner, build_presigner
from api.rate_limiter import RateLimiter, build_rate_limiter
from api.tenant_limits import InFlightEstimates
from shared.db.session import build_engine, build_sessionmaker
from shared.imageinfo import configure_pillow
from shared.settings import Settings
from shared.storage import ObjectStore, build_store
from shared.task_sender import TaskSender

# Under load a pooled connection is reused within milliseconds: pinging it each time would
# cost a database round trip per request.
PING_AFTER_IDLE_S = 1.0


@dataclass
class ApiContext:
    """Process-wide resources of the API."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    tasks: TaskSender
    presigner: Presigner
    rate_limiter: RateLimiter
    callers: CallerCache
    key_usage: UsageThrottle
    in_flight: InFlightEstimates

    @classmethod
    def build(cls, settings: Settings) -> ApiContext:
        configure_pillow(settings.max_image_pixels)
        engine = build_engine(settings.effective_database_url, ping_after_idle=PING_AFTER_IDLE_S)
        store = build_store(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=build_sessionmaker(engine),
            store=store,
            tasks=TaskSender.from_url(settings.broker_url),
            presigner=build_presigner(settings, store),
            rate_limiter=build_rate_limiter(settings),
            callers=CallerCache(settings.api_key_cache_seconds),
            key_usage=UsageThrottle(),
            in_flight=InFlightEstimates(),
        )

    async def aclose(self) -> None:
        self.engine.dispose()
        self.tasks.close()
        await self.rate_limiter.aclose()
