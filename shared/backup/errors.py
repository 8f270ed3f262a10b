"""Errors of ``quire backup`` and ``quire restore``, in quire's error tree."""

from __future__ import annotations

from shared.errors import QuireError


class BackupFailed(QuireError):
    """A backup could not be made or read: the message says what to fix."""

    code = "backup_failed"
    title = "The backup failed"


class RestoreRefused(BackupFailed):
    """The restore target already holds data (``--force`` replaces it)."""

    code = "restore_refused"
    title = "The restore target is not empty"


class BackupCorrupt(BackupFailed):
    """A file of the backup is missing or does not match its recorded SHA-256."""

    code = "backup_corrupt"
    title = "The backup does not match its manifest"
