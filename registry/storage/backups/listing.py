"""Which snapshots of a database exist in its backup folder, newest first, and finding one by name."""

from __future__ import annotations

import re
import stat
from pathlib import Path

from registry.storage.backups.files import backup_folder, snapshot_name_pattern
from registry.storage.backups.live import Database
from registry.storage.backups.manifests import SnapshotInfo, broken_info, read_manifest, snapshot_info
from registry.storage.interface import SnapshotError, SnapshotNotFound


def list_snapshots(
    target: Database, backup_dir: Path | None = None, *, verify: bool = True
) -> list[SnapshotInfo]:
    """Every snapshot of the database in the backup folder (runbook-named files included), newest first.

    `verify` hashes each snapshot against its manifest (once per file per process, then cached by size, mtime
    and inode); verify=False trusts the manifests and compares sizes only.
    """
    folder = backup_folder(target, backup_dir)
    if not folder.is_dir():
        return []
    pattern = snapshot_name_pattern(target)
    infos = []
    for path in folder.iterdir():
        if not pattern.match(path.name) or not _regular_file(path):
            continue
        try:
            manifest = read_manifest(path)
            infos.append(snapshot_info(path, target, manifest, hash_file=verify))
        except SnapshotError as exc:
            infos.append(broken_info(path, str(exc)))
        except OSError:
            continue  # vanished while listing (a concurrent prune)
    infos.sort(key=lambda i: (i.created_at, _suffix(i.name)), reverse=True)
    return infos


def _regular_file(path: Path) -> bool:
    """A regular file in the folder itself: a symlink named like a snapshot (it may point anywhere, such as at
    another database outside the folder) is not a snapshot, nor is a folder or a FIFO."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _suffix(name: str) -> int:
    match = re.search(r"-(\d+)$", name.rsplit(".", 1)[-1])
    return int(match.group(1)) if match and len(match.group(1)) < 6 else 1


def find_snapshot(target: Database, name: str, backup_dir: Path | None = None) -> SnapshotInfo:
    """The snapshot called `name` among those listed; SnapshotNotFound for anything else (paths included)."""
    pattern = snapshot_name_pattern(target)
    if not name or "/" in name or "\\" in name or name in (".", "..") or not pattern.match(name):
        raise SnapshotNotFound(f"no snapshot named {name!r}")
    for info in list_snapshots(target, backup_dir):
        if info.name == name:
            return info
    raise SnapshotNotFound(f"no snapshot named {name!r}")
