"""Retention: which of our snapshots to delete (beyond the newest `keep`, older than `max_age_days`)."""

from __future__ import annotations

import glob
import logging
import os
import secrets
import threading
import time
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

# Snapshots that a backup has written and is still reporting (its caller has not answered yet). Retention run at
# the same moment must not delete them: with 13 backups at once beyond the retention count, one request's prune
# used to delete another's new snapshot. The hold must also reach other processes (a `profile-registry backup
# --keep 1` run beside a serving process), so each hold is a lease marker file beside the snapshot,
# `.lease-<snapshot>.<pid>-<random>`, created before the snapshot's manifest exists (until then no prune takes it
# for one of ours) and removed on release. A marker left by a killed process counts only until it is older than
# LEASE_STALE_SECONDS: reporting a snapshot takes seconds, so a quarter of an hour is far beyond any live holder.
LEASE_PREFIX = ".lease-"
LEASE_STALE_SECONDS = 15 * 60

_held: dict[Path, list[Path | None]] = {}  # snapshot -> its markers (None: the marker could not be written)
_held_lock = threading.Lock()
_lease = threading.local()


def _write_marker(path: Path) -> Path | None:
    marker = path.parent / f"{LEASE_PREFIX}{path.name}.{os.getpid()}-{secrets.token_hex(4)}"
    try:
        with open(marker, "x", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    except OSError as exc:
        # The folder took the snapshot a moment ago; should it refuse this small file, this process still holds
        # the snapshot, only other processes cannot see it.
        log.warning("could not write the lease marker %s: %s", marker, exc)
        return None
    return marker


def hold(path: Path) -> None:
    """Keep `path` out of retention, in every process, until release(path) (or until the current lease ends)."""
    key = Path(path).absolute()
    marker = _write_marker(key)
    with _held_lock:
        _held.setdefault(key, []).append(marker)
    if getattr(_lease, "paths", None) is not None:
        _lease.paths.append(Path(path))


def release(path: Path) -> None:
    key = Path(path).absolute()
    with _held_lock:
        markers = _held.get(key) or [None]
        marker = markers.pop()
        if not markers:
            _held.pop(key, None)
    if marker is not None:
        marker.unlink(missing_ok=True)


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
    """Held by this process, or by any process whose lease marker for it is not stale."""
    key = Path(path).absolute()
    with _held_lock:
        if key in _held:
            return True
    cutoff = time.time() - LEASE_STALE_SECONDS
    for marker in key.parent.glob(f"{glob.escape(LEASE_PREFIX + key.name)}.*"):
        try:
            if marker.stat().st_mtime >= cutoff:
                return True
        except OSError:
            continue  # released meanwhile
    return False


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
            continue  # another backup (of this process or another) is still reporting it
        too_many = bool(keep) and index >= int(keep)  # type: ignore[arg-type]
        too_old = bool(max_age_days) and now - snap.created_at > timedelta(days=float(max_age_days))  # type: ignore[arg-type]
        if too_many or too_old:
            snap.path.unlink(missing_ok=True)
            manifest_path(snap.path).unlink(missing_ok=True)
            deleted.append(snap.path)
            log.info("pruned snapshot %s (%s)", snap.name, "beyond keep" if too_many else "older than max age")
    folder = backup_folder(target, backup_dir)
    _remove_abandoned_temporaries(folder, live_database(target).name)
    _remove_stale_markers(folder)
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


def _remove_stale_markers(folder: Path) -> None:
    """Lease markers of holders that died (a killed process): past LEASE_STALE_SECONDS they hold nothing."""
    cutoff = time.time() - LEASE_STALE_SECONDS
    for marker in folder.glob(f"{LEASE_PREFIX}*"):
        try:
            if marker.stat().st_mtime < cutoff:
                marker.unlink()
                log.info("removed stale lease marker %s", marker)
        except OSError:
            continue
