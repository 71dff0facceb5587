"""Snapshots of a registry database: take, list, verify, prune, compare and restore. Paths in, paths out; no Flask.

One module per job; this package's namespace is what the commands, the API and the dashboard call:

- live.py          the live database: a SQLite file or a PostgreSQL database (the only engine differences)
- files.py         where snapshots live, their names, durable writing and hashing
- manifests.py     the JSON manifest beside each snapshot and SnapshotInfo (file + manifest)
- listing.py       the snapshots of a database, newest first; finding one by name
- verification.py  is a snapshot file sound (header, manifest checksum, every row)
- snapshots.py     taking a snapshot (and backup_then_prune)
- retention.py     deleting old snapshots
- restore.py       restoring one into the live database, and comparing it with the live rows

Every operation takes the database as a DatabaseTarget (path plus every DSN setting), a PostgresTarget or an open
store, never as a bare path, so a backup or restore connects with the settings the service uses (a
`_journal_mode=DELETE` database stays so). A snapshot is the same file for both engines. The SQL itself (copying,
checking rows, reading stamps) lives in registry/storage/sqlite_store.py and postgres_snapshots.py.
"""

from registry.storage.backups.files import backup_folder
from registry.storage.backups.listing import find_snapshot, list_snapshots
from registry.storage.backups.live import Database, LiveDatabase, NoBackupFolder, live_database
from registry.storage.backups.manifests import NO_MANIFEST, SnapshotInfo, manifest_path, read_manifest
from registry.storage.backups.restore import (
    RegistryChange,
    RestoreResult,
    compare,
    compare_with_live,
    live_registries,
    restore_snapshot,
)
from registry.storage.backups.retention import prune
from registry.storage.backups.snapshots import BackupWriteError, backup_then_prune, create_backup
from registry.storage.backups.verification import check_unlisted, verify_snapshot
from registry.storage.interface import SnapshotError, SnapshotNotFound, SnapshotUnavailable

__all__ = [
    "NO_MANIFEST",
    "BackupWriteError",
    "Database",
    "LiveDatabase",
    "NoBackupFolder",
    "RegistryChange",
    "RestoreResult",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotNotFound",
    "SnapshotUnavailable",
    "backup_folder",
    "backup_then_prune",
    "check_unlisted",
    "compare",
    "compare_with_live",
    "create_backup",
    "find_snapshot",
    "list_snapshots",
    "live_database",
    "live_registries",
    "manifest_path",
    "prune",
    "read_manifest",
    "restore_snapshot",
    "verify_snapshot",
]
