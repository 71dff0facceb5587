"""Retention: which of our snapshots to delete (beyond the newest `keep`, older than `max_age_days`)."""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from registry.storage.backups.files import TMP_PREFIX, backup_folder
from registry.storage.backups.listing import list_snapshots
from registry.storage.backups.live import Database, live_database
from registry.storage.backups.manifests import TOOL, manifest_path, snapshot_info

log = logging.getLogger(__name__)

# Snapshots that a backup in this process has written and is still reporting (its caller has not answered yet),
# with how many holders each has. Retention run by another request at the same moment must not delete them: with
# 13 backups at once beyond the retention count, one request's prune used to delete another's new snapshot.
# Other processes (a `profile-registry backup` beside `serve`, two servers on one folder) see a hold as a marker
# file `.hold-<snapshot>.<pid>` in the backup folder, there from hold() to the last release(). A marker older
# than HOLD_STALE_SECONDS is a process that died holding it: ignored, then removed.
HOLD_PREFIX = ".hold-"
HOLD_STALE_SECONDS = 3600.0
_held: Counter[Path] = Counter()
_held_lock = threading.Lock()
_lease = threading.local()


def hold(path: Path) -> None:
    """Keep `path` out of retention until release(path) (or until the current lease ends, inside one)."""
    with _held_lock:
        key = Path(path).absolute()
        _held[key] += 1
        if _held[key] == 1:
            _mark_held(key)
    if getattr(_lease, "paths", None) is not None:
        _lease.paths.append(Path(path))


def release(path: Path) -> None:
    with _held_lock:
        key = Path(path).absolute()
        _held[key] -= 1
        if _held[key] <= 0:
            del _held[key]
            _hold_marker(key).unlink(missing_ok=True)


def _hold_marker(snapshot: Path) -> Path:
    return snapshot.parent / f"{HOLD_PREFIX}{snapshot.name}.{os.getpid()}"


def _mark_held(snapshot: Path) -> None:
    try:
        _hold_marker(snapshot).touch()
    except OSError as exc:  # the folder was writable a moment ago; this process's own holds still work
        log.warning("could not mark %s as held for other processes: %s", snapshot.name, exc)


def _held_elsewhere(snapshot: Path) -> bool:
    """Whether another process (or this one) has a fresh hold marker for `snapshot`; stale markers are removed."""
    now = time.time()
    held = False
    for marker in snapshot.parent.glob(f"{HOLD_PREFIX}{glob.escape(snapshot.name)}.*"):
        try:
            if now - marker.stat().st_mtime <= HOLD_STALE_SECONDS:
                held = True
            else:
                marker.unlink()
                log.info("removed stale hold marker %s", marker.name)
        except OSError:
            continue  # released meanwhile
    return held


def unhold(path: Path) -> None:
    """Undo a hold() of a name that was not taken after all (publish found it in use)."""
    release(path)
    paths = getattr(_lease, "paths", None)
    if paths is not None and Path(path) in paths:
        paths.remove(Path(path))


def _delete_unless_held(path: Path) -> bool:
    """Delete a snapshot and its manifest unless a backup holds it now; False when held.

    The check and the delete happen under the hold lock, and a backup holds a name before it links its file there
    (files.publish): so a snapshot published under a name retention is just freeing (a pruned name taken again
    within the same second) is either seen as held or linked after the delete, never deleted itself.
    """
    with _held_lock:
        if Path(path).absolute() in _held:
            return False
        if _held_elsewhere(Path(path).absolute()):
            return False
        path.unlink(missing_ok=True)
        manifest_path(path).unlink(missing_ok=True)
    return True


def leased() -> bool:
    """Whether this thread is inside a `lease()` block, which then releases what it holds."""
    return getattr(_lease, "paths", None) is not None


@contextmanager
def lease() -> Iterator[None]:
    """Snapshots taken in this thread inside the block stay out of retention until the block ends."""
    if leased():
        yield
        return
    _lease.paths = []
    try:
        yield
    finally:
        paths, _lease.paths = _lease.paths, None
        for path in paths:
            release(path)


def _is_held(path: Path) -> bool:
    with _held_lock:
        if Path(path).absolute() in _held:
            return True
    return _held_elsewhere(Path(path).absolute())


def prune(
    target: Database,
    backup_dir: Path | None = None,
    *,
    keep: int | None = None,
    max_age_days: float | None = None,
) -> list[Path]:
    """Delete our snapshots beyond the newest `keep` or older than `max_age_days`; never the newest verified one.

    Only files with a manifest written by this tool are candidates: a runbook `cp` copy or a foreign file stays.
    `keep` None/0 and `max_age_days` None/0 switch that rule off.
    """
    snapshots = [s for s in list_snapshots(target, backup_dir, verify=False) if s.manifest.get("tool") == TOOL]
    # Hash newest first and stop at the first match: usually the snapshot just made, whose sha is cached.
    newest_verified = next((s for s in snapshots if s.verified and _still_verified(s.path, target, s.manifest)), None)
    now = datetime.now(UTC)
    deleted = []
    for index, snap in enumerate(snapshots):
        if newest_verified is not None and snap.name == newest_verified.name:
            continue
        if _is_held(snap.path):
            continue  # another backup (of this process or another one) is still reporting it
        too_many = bool(keep) and index >= int(keep)  # type: ignore[arg-type]
        too_old = bool(max_age_days) and now - snap.created_at > timedelta(days=float(max_age_days))  # type: ignore[arg-type]
        if (too_many or too_old) and _delete_unless_held(snap.path):
            deleted.append(snap.path)
            log.info("pruned snapshot %s (%s)", snap.name, "beyond keep" if too_many else "older than max age")
    _remove_abandoned_temporaries(backup_folder(target, backup_dir), live_database(target).name)
    return deleted


def _still_verified(path: Path, target: Database, manifest: dict[str, Any]) -> bool:
    try:
        return snapshot_info(path, target, manifest).verified
    except OSError:
        return False  # deleted meanwhile by retention in another process


def _remove_abandoned_temporaries(folder: Path, db_name: str) -> None:
    """Temporary files of backups that died (a killed process) a day or more ago; a running backup is younger."""
    cutoff = datetime.now(UTC).timestamp() - 86400
    for path in folder.glob(f"{TMP_PREFIX}{db_name}.*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                log.info("removed abandoned temporary file %s", path)
        except OSError:
            continue
