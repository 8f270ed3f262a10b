"""``quire backup``: the database dumped first, then every object of the store copied.

The order is what makes the backup whole: objects are written before the rows that name
them and deleted only after those rows are, so every object the dump's rows name is still in
the store when the copy runs after the dump (but for one deleted in between, which the
manifest lists as missing). Objects written after the dump are copied too: harmless extras.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from shared.backup.database import Dump, dump_database
from shared.backup.errors import BackupFailed
from shared.backup.manifest import (
    OBJECTS_DIR,
    OBJECTS_LIST,
    FileEntry,
    Manifest,
    file_entry,
    write_manifest,
    write_objects_list,
)
from shared.backup.objects import copy_out
from shared.backup.progress import Report
from shared.settings import Settings, StoreBackend
from shared.storage import build_store

DEFAULT_JOBS = 8


def create_backup(
    settings: Settings, out: Path, report: Report, *, jobs: int = DEFAULT_JOBS
) -> Manifest:
    """Back up the database and the object store the settings name into ``out``.

    Args:
        settings: The process's settings (database URL, store).
        out: A folder that does not exist yet or is empty.
        report: Called with one line of progress at a time.
        jobs: Objects copied at once.

    Returns:
        The manifest written last into ``out``.

    Raises:
        BackupFailed: The folder is not empty, or the database or store cannot be read.
    """
    _prepare_folder(out)
    report(f"database: dumping {settings.effective_database_url.split('@')[-1]}")
    dump = dump_database(settings.effective_database_url, out)
    database_file = file_entry(out, dump.file)
    report(f"database: {database_file.size} bytes, schema revision {dump.revision}")
    store = build_store(settings)
    keys = list(store.list_keys())
    report(f"objects: {len(keys)} to copy")
    entries = copy_out(store, out / OBJECTS_DIR, keys, jobs, report)
    write_objects_list(out / OBJECTS_LIST, entries)
    manifest = _manifest(settings, out, dump, database_file, entries)
    write_manifest(out, manifest)
    if manifest.missing_objects:
        report(
            f"warning: {len(manifest.missing_objects)} objects the dump names were deleted "
            f"before they were copied, e.g. {manifest.missing_objects[0]!r}"
        )
    report(f"backup complete: {out}")
    return manifest


def _prepare_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupFailed(f"{out} exists and is not an empty folder; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    (out / OBJECTS_DIR).mkdir()


def _manifest(
    settings: Settings, out: Path, dump: Dump, database_file: FileEntry, entries: list[FileEntry]
) -> Manifest:
    copied = {entry.name for entry in entries}
    return Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        database_kind=dump.kind,
        database_revision=dump.revision,
        database_file=database_file,
        objects_file=file_entry(out, OBJECTS_LIST),
        object_count=len(entries),
        object_bytes=sum(entry.size for entry in entries),
        store=_store_description(settings),
        missing_objects=sorted(dump.referenced_keys - copied),
    )


def _store_description(settings: Settings) -> dict[str, str]:
    if settings.store_backend is StoreBackend.S3:
        return {"backend": "s3", "bucket": settings.s3_bucket, "prefix": settings.s3_prefix}
    return {"backend": "local", "dir": str(settings.effective_store_dir)}
