"""Everything the API process builds once at start and hands to its routes."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.celery_config import build_celery
from shared.db.session import build_engine, build_sessionmaker
from shared.imageinfo import configure_pillow
from shared.settings import Settings
from shared.storage import ObjectStore, build_store


@dataclass
class ApiContext:
    """Process-wide resources of the API."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    producer: Celery

    @classmethod
    def build(cls, settings: Settings) -> ApiContext:
        configure_pillow(settings.max_image_pixels)
        engine = build_engine(settings.effective_database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=build_sessionmaker(engine),
            store=build_store(settings),
            producer=build_celery(settings, name="quire-api"),
        )

    def close(self) -> None:
        self.engine.dispose()
        self.producer.close()
