"""Restoring a snapshot into the live database, and what a restore changes, registry by registry.

Restore copies a checked snapshot INTO the open live database through the backup API, so it works while the
service runs and on Windows; the live file is never renamed, replaced or deleted. A safety snapshot of the data
it replaces is taken first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.storage.backups import retention
from registry.storage.backups.files import backup_folder
from registry.storage.backups.live import Database, live_database
from registry.storage.backups.manifests import SnapshotInfo, read_manifest, snapshot_info, unlisted_info
from registry.storage.backups.snapshots import create_backup
from registry.storage.backups.verification import verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryChange:
    """How one registry in a snapshot compares with the live database."""

    slug: str
    live_updated_at_ms: int | None
    snapshot_updated_at_ms: int | None
    change: str  # "added" | "removed" | "older" | "newer" | "same", seen from the live side after a restore

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "live_updated_at_ms": self.live_updated_at_ms,
            "snapshot_updated_at_ms": self.snapshot_updated_at_ms,
            "change": self.change,
        }


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: the snapshot restored, the safety snapshot taken first, and the per-registry changes."""

    snapshot: SnapshotInfo
    safety_snapshot: SnapshotInfo
    changes: list[RegistryChange]


def live_registries(target: Database) -> dict[str, int]:
    """slug -> updated_at_ms of the live database's rows."""
    return live_database(target).row_stamps()


def compare(live: dict[str, int], snapshot: dict[str, int]) -> list[RegistryChange]:
    """Per registry: what restoring `snapshot` over `live` would do (added/removed/older/newer/same)."""
    changes = []
    for slug in sorted(set(live) | set(snapshot)):
        lv, sv = live.get(slug), snapshot.get(slug)
        if lv is None:
            change = "added"
        elif sv is None:
            change = "removed"
        elif sv < lv:
            change = "older"
        elif sv > lv:
            change = "newer"
        else:
            change = "same"
        changes.append(RegistryChange(slug, lv, sv, change))
    return changes


def compare_with_live(target: Database, snapshot: SnapshotInfo) -> list[RegistryChange]:
    """How the snapshot's registries differ from the live rows ("older" = the snapshot's row is older)."""
    return compare(live_registries(target), snapshot.registries)


def restore_snapshot(target: Database, snapshot_path: Path, backup_dir: Path | None = None) -> RestoreResult:
    """Check the snapshot, take a safety snapshot, then copy the snapshot into the open live database.

    The copy goes through the backup API into a connection on the live file (one step, under the process-wide
    write lock), followed by a TRUNCATE checkpoint; running services see it through `PRAGMA data_version`.
    Every connection carries the target's settings, so the database keeps its journal mode and busy timeout.
    The live file is never renamed, replaced or deleted. A refused snapshot changes nothing. Into PostgreSQL: one
    transaction that holds back every writer of every instance from the safety snapshot to its commit.
    """
    with retention.lease():  # the safety snapshot stays out of any concurrent prune until it has been reported
        return _restore(target, Path(snapshot_path), backup_dir)


def _restore(target: Database, snapshot_path: Path, backup_dir: Path | None) -> RestoreResult:
    database = live_database(target)
    database.check_exists()
    backup_folder(database, backup_dir)  # a PostgreSQL database without a backup folder: refused before anything
    # Strict: the snapshot being restored must have exactly the reference's schema and only sound rows. (The
    # safety snapshot taken below is not held to that: it keeps the live rows, bad ones included, as they are.)
    checked = verify(snapshot_path)

    def safety_snapshot() -> tuple[dict[str, int], SnapshotInfo]:
        # Runs while this process's writers are held: the rows read here are the ones the safety snapshot holds.
        before = database.row_stamps()
        return before, create_backup(database, backup_dir, reason=f"before restore of {snapshot_path.name}")

    before, safety = database.restore(snapshot_path, safety_snapshot)
    manifest = read_manifest(snapshot_path)
    info = snapshot_info(snapshot_path, target, manifest) if manifest else unlisted_info(snapshot_path, checked)
    log.warning("restored %s from %s (safety snapshot %s)", database.location, snapshot_path, safety.path)
    return RestoreResult(info, safety, compare(before, checked.registries))
