"""API keys: random tokens shown once, stored as an HMAC under the server secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "qk_"
DISPLAY_PREFIX_LEN = 10


def generate_key() -> str:
    """A new API key (256 bits of randomness)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str, secret: str) -> str:
    """The stored form of a key; keys are high-entropy, so one keyed hash suffices."""
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key that may be shown in listings and logs."""
    return key[:DISPLAY_PREFIX_LEN]
