"""Object storage: one interface, a local-directory and an S3 implementation."""

from shared.storage.base import ObjectStore, validate_key
from shared.storage.factory import build_store

__all__ = ["ObjectStore", "build_store", "validate_key"]
