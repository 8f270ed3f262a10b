"""Choose the object store implementation by name from the settings."""

from __future__ import annotations

from shared.settings import Settings, StoreBackend
from shared.storage.base import ObjectStore


def build_store(settings: Settings) -> ObjectStore:
    """The process's object store, as the settings name it."""
    if settings.store_backend is StoreBackend.S3:
        from shared.storage.s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    from shared.storage.local import LocalObjectStore

    return LocalObjectStore(settings.effective_store_dir)
