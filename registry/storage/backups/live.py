"""The live database a snapshot is taken of and restored into: a SQLite file or a PostgreSQL database.

Everything else in this package (names, manifests, listing, retention, checks) is the same for both engines, because
a snapshot is the same kind of file for both (one SQLite file with the one table). What differs is here only: where
snapshots go by default, how the rows are copied out and back in, and how the live rows are read.

Callers pass what they have (a DatabaseTarget, a PostgresTarget, or an open store); `live_database` turns it into a
LiveDatabase. An open PostgreSQL store restores through its own write transaction, so the instance that restored
shows the restored rows on its very next read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, Union

from registry.storage import postgres_snapshots
from registry.storage.interface import Progress, RegistryStore, SnapshotError, StoreSnapshot
from registry.storage.postgres_db import PostgresTarget
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.sqlite_db import DatabaseTarget
from registry.storage.sqlite_store import (
    SQLiteRegistryStore,
    checkpoint_after_backup,
    copy_database,
    read_database_file,
    restore_database,
    row_stamps,
)

T = TypeVar("T")


class NoBackupFolder(SnapshotError):
    """A database without a folder of its own (PostgreSQL) and no backup folder configured."""


class LiveDatabase:
    """What the snapshot functions need of a live database; see SQLiteDatabase and PostgresDatabase."""

    # The base of its snapshots' names (`<name>.bak.YYYYMMDD-HHMMSS`) and how messages and manifests name it.
    name: str
    location: str

    def folder(self, backup_dir: Path | None) -> Path:
        """Where its snapshots live: `backup_dir`, else the engine's default (NoBackupFolder when it has none)."""
        raise NotImplementedError

    def check_exists(self) -> None:
        """SnapshotError when there is no database to back up or restore into (never creates one)."""

    def size(self) -> int:
        """Bytes a backup will copy, as far as known cheaply (0: unknown), for the progress bar."""
        return 0

    def copy_to(self, dest: Path, progress: Progress | None) -> None:
        """Every row as of one committed state into the existing, empty file `dest` (RegistryStore.backup_to)."""
        raise NotImplementedError

    def after_copy(self) -> None:
        """Housekeeping once a backup's read has ended."""

    def row_stamps(self) -> dict[str, int]:
        """slug -> updated_at_ms of every live row."""
        raise NotImplementedError

    def read_rows(self) -> StoreSnapshot:
        """Every live row, decoded (bad ones quarantined with the reason), without opening a store."""
        raise NotImplementedError

    def restore(self, snapshot: Path, before_copy: Callable[[], T]) -> T:
        """Replace every row with the checked snapshot's, in one step (RegistryStore.restore_from)."""
        raise NotImplementedError


class SQLiteDatabase(LiveDatabase):
    """A SQLite file: snapshots beside it by default, copied with SQLite's backup API."""

    def __init__(self, target: DatabaseTarget) -> None:
        self.target = target
        self.name = target.path.name
        self.location = str(target.path.absolute())

    def folder(self, backup_dir: Path | None) -> Path:
        return Path(backup_dir) if backup_dir is not None else self.target.path.absolute().parent

    def check_exists(self) -> None:
        if not self.target.path.is_file():
            raise SnapshotError(f"database {self.target.path} does not exist")

    def size(self) -> int:
        try:
            return self.target.path.stat().st_size
        except OSError:
            return 0

    def copy_to(self, dest: Path, progress: Progress | None) -> None:
        copy_database(self.target, dest, progress)

    def after_copy(self) -> None:
        checkpoint_after_backup(self.target)

    def row_stamps(self) -> dict[str, int]:
        return row_stamps(self.target)

    def read_rows(self) -> StoreSnapshot:
        return read_database_file(self.target)

    def restore(self, snapshot: Path, before_copy: Callable[[], T]) -> T:
        return restore_database(self.target, snapshot, before_copy)


class PostgresDatabase(LiveDatabase):
    """A PostgreSQL database: named after the database, snapshots only in a configured folder.

    A server has no folder beside it, and several hosts may serve one database, so the folder is always said
    explicitly (`--backup-dir`, BACKUP_DIR): a snapshot never lands in whatever directory a command ran in.
    """

    def __init__(self, target: PostgresTarget, store: PostgresRegistryStore | None = None) -> None:
        self.target = target
        self.store = store
        # libpq's default database is the user's name; a name is a file name here, so nothing but [A-Za-z0-9._-].
        dbname = target.params.get("dbname") or target.params.get("user") or "postgres"
        self.name = re.sub(r"[^A-Za-z0-9._-]", "_", dbname).lstrip(".") or "postgres"
        self.location = target.location

    def folder(self, backup_dir: Path | None) -> Path:
        if backup_dir is None:
            raise NoBackupFolder(
                f"{self.location} is a PostgreSQL database: say where its snapshots go with --backup-dir DIR "
                "(service setting BACKUP_DIR)"
            )
        return Path(backup_dir)

    def copy_to(self, dest: Path, progress: Progress | None) -> None:
        postgres_snapshots.backup_database(self.target, dest, progress)

    def row_stamps(self) -> dict[str, int]:
        return postgres_snapshots.row_stamps(self.target)

    def read_rows(self) -> StoreSnapshot:
        return postgres_snapshots.read_database(self.target)

    def restore(self, snapshot: Path, before_copy: Callable[[], T]) -> T:
        if self.store is not None:
            return self.store.restore_from(snapshot, before_copy)
        return postgres_snapshots.restore_database(self.target, snapshot, before_copy)


# What callers may hand the snapshot functions for "the live database".
# (Any RegistryStore: the service hands out its sources' stores under the protocol's type.)
Database = Union[DatabaseTarget, PostgresTarget, RegistryStore, LiveDatabase]  # noqa: UP007


def live_database(database: Database) -> LiveDatabase:
    """`database` as a LiveDatabase (an open PostgreSQL store is kept, so a restore goes through it)."""
    if isinstance(database, LiveDatabase):
        return database
    if isinstance(database, DatabaseTarget):
        return SQLiteDatabase(database)
    if isinstance(database, PostgresTarget):
        return PostgresDatabase(database)
    if isinstance(database, PostgresRegistryStore):
        return PostgresDatabase(database.target, database)
    if isinstance(database, SQLiteRegistryStore):
        return SQLiteDatabase(database.target)
    raise TypeError(f"no snapshots of a {type(database).__name__}")
