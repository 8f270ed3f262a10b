"""Backup and restore of quire's state: the database and every object of the store."""

from shared.backup.create import create_backup
from shared.backup.errors import BackupCorrupt, BackupFailed, RestoreRefused
from shared.backup.restore import restore_backup

__all__ = ["BackupCorrupt", "BackupFailed", "RestoreRefused", "create_backup", "restore_backup"]
