"""Taking a snapshot: copy the live database with SQLite's backup API, check it, sync, hash, name it, manifest it.

The copy goes to an owner-only temporary file (never a file copy of a live WAL database), is switched to
journal_mode=DELETE so it is one self-contained file, checked, synced and renamed to the runbook's name
`profiles.db.bak.YYYYMMDD-HHMMSS` (UTC), with its manifest beside it.
"""

from __future__ import annotations

import errno
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.host_os import create_owner_only_file, fsync_file, fsync_folder
from registry.storage.backups import retention
from registry.storage.backups.files import (
    TMP_PREFIX,
    backup_folder,
    publish,
    remember_sha,
    sha256_file,
    snapshot_name,
)
from registry.storage.backups.live import Database, LiveDatabase, live_database
from registry.storage.backups.manifests import (
    SnapshotInfo,
    manifest_path,
    new_manifest,
    snapshot_info,
    write_manifest,
)
from registry.storage.interface import CheckedDatabase, Progress, SnapshotError
from registry.storage.sqlite_store import check_database_file

log = logging.getLogger(__name__)


def create_backup(
    target: Database,
    backup_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    reason: str = "backup",
) -> SnapshotInfo:
    """Snapshot the database into the backup folder, check it and write its manifest.

    Every connection to the live database carries the target's settings (journal mode, busy timeout...): a
    backup never changes how the database is kept. A PostgreSQL database is read in one repeatable-read
    transaction into the same kind of file (registry/storage/backups/live.py).
    """
    database = live_database(target)
    database.check_exists()
    folder = backup_folder(database, backup_dir)
    try:
        return _create_backup(database, folder, progress, reason)
    except OSError as exc:
        raise BackupWriteError(exc, folder) from exc
    except SnapshotError as exc:
        # SQLite reports a full disk (or a file-size limit) while copying as SQLITE_FULL.
        cause = exc.__cause__
        if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            raise BackupWriteError(OSError(errno.ENOSPC, "database or disk is full"), folder) from exc
        raise


class BackupWriteError(SnapshotError):
    """The snapshot could not be written: the folder or file and the operating system's reason, and its errno."""

    def __init__(self, exc: OSError, folder: Path) -> None:
        where = exc.filename or folder
        reason = exc.strerror or str(exc)
        code = errno.errorcode.get(exc.errno or 0, "")
        super().__init__(f"cannot write a snapshot in {folder}: {where}: {reason}" + (f" ({code})" if code else ""))
        self.errno = exc.errno


def _create_backup(
    target: LiveDatabase, folder: Path, progress: Progress | None, reason: str
) -> SnapshotInfo:
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    tmp = folder / f"{TMP_PREFIX}{target.name}.{secrets.token_hex(4)}"
    create_owner_only_file(tmp)
    try:
        target.copy_to(tmp, progress)
        # The file is final now: sync it to disk and hash it, each in a thread, while the rows are checked (all
        # three release the GIL for most of their work), which takes about a third off a large backup.
        syncing = _Background(fsync_file, tmp)
        hashing = _Background(sha256_file, tmp, progress)
        try:
            # Not strict: a bad live row must not block a backup (least of all the safety snapshot of a restore
            # that is about to replace it); the snapshot keeps the row as it is and the manifest lists it.
            checked = check_database_file(tmp, f"snapshot of {target.name}", progress, strict=False)
        finally:
            sha = hashing.result()
            syncing.result()  # the file is on disk before it gets its name
        target.after_copy()
        # Held (out of retention's reach) from before its name exists until this call returns, or, inside a lease,
        # until the caller has reported it.
        final = publish(tmp, folder, snapshot_name(target, now), hold=retention.hold, unhold=retention.unhold)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        return _finish(target, folder, final, now, reason, sha, checked)
    finally:
        if not retention.leased():
            retention.release(final)


def _finish(
    target: LiveDatabase, folder: Path, final: Path, now: datetime, reason: str, sha: str, checked: CheckedDatabase
) -> SnapshotInfo:
    """Write the manifest of a snapshot just renamed into place; SnapshotInfo of the finished snapshot."""
    manifest = new_manifest(final, target, now, reason, sha, checked)
    try:
        write_manifest(final, manifest)
        fsync_folder(folder)
    except BaseException:
        # Interrupted (Ctrl-C) or failed between the rename and the manifest: a snapshot is the file and its
        # manifest together, so neither stays behind and the command can say "nothing written".
        final.unlink(missing_ok=True)
        manifest_path(final).unlink(missing_ok=True)
        raise
    remember_sha(final, sha)
    info = snapshot_info(final, target, manifest, sha_checked=sha)
    log.info("backup of %s written to %s (%d bytes, sha256 %s)", target.location, final, info.size, sha)
    return info


def backup_then_prune(
    target: Database,
    backup_dir: Path | None = None,
    *,
    keep: int | None,
    max_age_days: float | None,
    progress: Progress | None = None,
    reason: str = "backup",
) -> tuple[SnapshotInfo, list[Path]]:
    """A snapshot, then retention (what `backup`, POST /api/backups and the dashboard's button do).

    Retention runs only once the new snapshot is safely written, so it can never delete the last good one.
    Returns the new snapshot and the files retention deleted.
    """
    with retention.lease():  # the new snapshot stays out of any concurrent prune until it has been reported
        info = create_backup(target, backup_dir, progress=progress, reason=reason)
        return info, retention.prune(target, backup_dir, keep=keep, max_age_days=max_age_days)


class _Background:
    """`function(*args)` in a daemon thread; `result()` joins, then returns its value or re-raises its error."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self.thread.start()

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self.value = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self.error = exc

    def result(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value
