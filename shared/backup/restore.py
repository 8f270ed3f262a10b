"""``quire restore``: a backup brought back into an empty database and an empty store.

Everything is checked before anything is written: the manifest, the schema revision (a
backup from a newer quire is refused), the emptiness of both targets and the SHA-256 of
every file. Objects go back first and the database last, so a restore cut short leaves no row
naming an absent object; the schema is then upgraded to this release's head, as
``quire db upgrade`` does.
"""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from shared.backup.database import DUMP_FILES, check_target, restore_database, table_names
from shared.backup.errors import BackupCorrupt, BackupFailed
from shared.backup.manifest import (
    OBJECTS_DIR,
    OBJECTS_LIST,
    Manifest,
    read_manifest,
    read_objects_list,
    verify_file,
)
from shared.backup.objects import check_empty, copy_in, verify_copies
from shared.backup.progress import Report
from shared.db.migrate import alembic_config, upgrade
from shared.settings import Settings
from shared.storage import build_store

DEFAULT_JOBS = 8


def restore_backup(
    settings: Settings,
    source: Path,
    report: Report,
    *,
    force: bool = False,
    jobs: int = DEFAULT_JOBS,
) -> Manifest:
    """Restore the backup in ``source`` into the database and store the settings name.

    Args:
        settings: The settings of the servers restored into.
        source: A folder ``quire backup`` finished.
        report: Called with one line of progress at a time.
        force: Replace a database that has tables; overwrite the backup's keys in a store
            that holds objects (other objects stay).
        jobs: Objects copied at once.

    Returns:
        The backup's manifest.

    Raises:
        BackupCorrupt: A file is missing or does not match its SHA-256.
        RestoreRefused: A target is not empty and ``force`` is not set.
        BackupFailed: Anything else that stops the restore, with what to fix.
    """
    manifest = read_manifest(source)
    url = settings.effective_database_url
    report(
        f"backup of {manifest.created_at}: {manifest.object_count} objects, schema "
        f"revision {manifest.database_revision}"
    )
    _check_revision(url, manifest.database_revision)
    check_target(url, manifest.database_kind, force=force)
    store = build_store(settings)
    check_empty(store, force=force)
    dump = _dump_path(source, manifest)
    verify_file(dump, manifest.database_file)
    verify_file(source / OBJECTS_LIST, manifest.objects_file)
    entries = list(read_objects_list(source / OBJECTS_LIST))
    verify_copies(source / OBJECTS_DIR, entries, report)
    copy_in(store, source / OBJECTS_DIR, entries, jobs, report)
    report("database: restoring")
    restore_database(url, dump, replace=bool(table_names(url)))
    upgrade(url)
    report(f"restore complete: schema at head, {len(entries)} objects")
    return manifest


def _dump_path(source: Path, manifest: Manifest) -> Path:
    if DUMP_FILES.get(manifest.database_kind) != manifest.database_file.name:
        raise BackupCorrupt(
            f"the manifest names a {manifest.database_kind} dump {manifest.database_file.name!r}"
        )
    return source / manifest.database_file.name


def _check_revision(url: str, revision: str | None) -> None:
    """Refuse a backup whose schema this release does not know (made by a newer one)."""
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(alembic_config(url)).get_revision(revision)
    except CommandError as e:
        raise BackupFailed(
            f"the backup's schema revision {revision!r} is unknown to this release; "
            "restore it with the quire release that made it (or a newer one)"
        ) from e
