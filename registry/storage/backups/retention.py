"""Retention: which of our snapshots to delete (beyond the newest `keep`, older than `max_age_days`)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from registry.storage.backups.files import TMP_PREFIX, backup_folder
from registry.storage.backups.listing import list_snapshots
from registry.storage.backups.manifests import TOOL, manifest_path, snapshot_info
from registry.storage.sqlite_db import DatabaseTarget

log = logging.getLogger(__name__)


def prune(
    target: DatabaseTarget,
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
    newest_verified = next(
        (s for s in snapshots if s.verified and snapshot_info(s.path, target, s.manifest).verified), None
    )
    now = datetime.now(UTC)
    deleted = []
    for index, snap in enumerate(snapshots):
        if newest_verified is not None and snap.name == newest_verified.name:
            continue
        too_many = bool(keep) and index >= int(keep)  # type: ignore[arg-type]
        too_old = bool(max_age_days) and now - snap.created_at > timedelta(days=float(max_age_days))  # type: ignore[arg-type]
        if too_many or too_old:
            snap.path.unlink(missing_ok=True)
            manifest_path(snap.path).unlink(missing_ok=True)
            deleted.append(snap.path)
            log.info("pruned snapshot %s (%s)", snap.name, "beyond keep" if too_many else "older than max age")
    _remove_abandoned_temporaries(backup_folder(target, backup_dir), target.path.name)
    return deleted


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
