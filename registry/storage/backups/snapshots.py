"""Taking a snapshot: copy the live database with SQLite's backup API, check it, sync, hash, name it, manifest it.

The copy goes to an owner-only temporary file (never a file copy of a live WAL database), is switched to
journal_mode=DELETE so it is one self-contained file, checked, synced and renamed to the runbook's name
`profiles.db.bak.YYYYMMDD-HHMMSS` (UTC), with its manifest beside it.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.storage.backups.files import (
    TMP_PREFIX,
    backup_folder,
    create_private,
    fsync_dir,
    fsync_file,
    publish,
    remember_sha,
    sha256_file,
    snapshot_name,
)
from registry.storage.backups.manifests import (
    SnapshotInfo,
    manifest_path,
    new_manifest,
    snapshot_info,
    write_manifest,
)
from registry.storage.backups.retention import prune
from registry.storage.interface import Progress, SnapshotError
from registry.storage.sqlite_db import DatabaseTarget
from registry.storage.sqlite_store import check_database_file, checkpoint_after_backup, copy_database

log = logging.getLogger(__name__)


def create_backup(
    target: DatabaseTarget,
    backup_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    reason: str = "backup",
) -> SnapshotInfo:
    """Snapshot the database into the backup folder, check it and write its manifest.

    Every connection to the live database carries the target's settings (journal mode, busy timeout...): a
    backup never changes how the database is kept.
    """
    db_path = target.path
    if not db_path.is_file():
        raise SnapshotError(f"database {db_path} does not exist")
    folder = backup_folder(target, backup_dir)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    tmp = folder / f"{TMP_PREFIX}{db_path.name}.{secrets.token_hex(4)}"
    create_private(tmp)
    try:
        copy_database(target, tmp, progress)
        # The file is final now: sync it to disk and hash it, each in a thread, while the rows are checked (all
        # three release the GIL for most of their work), which takes about a third off a large backup.
        syncing = _Background(fsync_file, tmp)
        hashing = _Background(sha256_file, tmp, progress)
        try:
            checked = check_database_file(tmp, f"snapshot of {db_path.name}", progress)
        finally:
            sha = hashing.result()
            syncing.result()  # the file is on disk before it gets its name
        checkpoint_after_backup(target)
        final = publish(tmp, folder, snapshot_name(target, now))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = new_manifest(final, target, now, reason, sha, checked)
    try:
        write_manifest(final, manifest)
        fsync_dir(folder)
    except BaseException:
        # Interrupted (Ctrl-C) or failed between the rename and the manifest: a snapshot is the file and its
        # manifest together, so neither stays behind and the command can say "nothing written".
        final.unlink(missing_ok=True)
        manifest_path(final).unlink(missing_ok=True)
        raise
    remember_sha(final, sha)
    info = snapshot_info(final, target, manifest, sha_checked=sha)
    log.info("backup of %s written to %s (%d bytes, sha256 %s)", db_path, final, info.size, sha)
    return info


def backup_then_prune(
    target: DatabaseTarget,
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
    info = create_backup(target, backup_dir, progress=progress, reason=reason)
    return info, prune(target, backup_dir, keep=keep, max_age_days=max_age_days)


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
