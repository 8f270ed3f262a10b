"""Webhook signing secrets sealed at rest with a key derived from QUIRE_SECRET_KEY.

A signing secret must be readable again to sign each delivery, so it cannot be hashed like
an API key; it is stored encrypted (Fernet: AES-128-CBC with an HMAC-SHA256 tag) under a key
derived from the server secret with HKDF, and opened only to sign or to show it to its
tenant. A database dump alone no longer gives away anyone's signing secret. Rows written
before sealing (plain text, no ``v1:`` prefix) are read as they are and sealed on first use.
Changing QUIRE_SECRET_KEY makes sealed secrets unreadable (as it makes every API key invalid):
rotate the tenants' secrets afterwards.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import SecretUnreadable

PREFIX = "v1:"
HKDF_INFO = b"quire webhook signing secrets v1"


class SecretBox:
    """Seals and opens stored secrets under one server secret."""

    def __init__(self, server_secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO)
        key = derived.derive(server_secret.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, secret: str) -> str:
        """The stored form of ``secret``."""
        return PREFIX + self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret of a stored value (a value stored before sealing is returned as is).

        Raises:
            SecretUnreadable: the value was sealed under another server secret or altered.
        """
        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, ValueError) as e:
            raise SecretUnreadable(
                "a stored webhook secret cannot be opened with this QUIRE_SECRET_KEY "
                "(was the key changed?); rotate the tenant's webhook secret"
            ) from e


def is_sealed(stored: str) -> bool:
    """Whether a stored value is sealed (not a plain secret from before sealing)."""
    return stored.startswith(PREFIX)
