"""Is a snapshot file sound: a SQLite file, matching its manifest (if any), whose rows all decode and validate."""

from __future__ import annotations

from pathlib import Path

from registry.storage.backups.files import remember_sha, sha256_file
from registry.storage.backups.manifests import SnapshotInfo, read_manifest, unlisted_info
from registry.storage.interface import CheckedDatabase, Progress, SnapshotError, SnapshotNotFound
from registry.storage.sqlite_store import check_database_file
from registry.storage.wal_ownership import SQLITE_HEADER


def check_header(path: Path) -> None:
    """SnapshotNotFound when the file is missing; SnapshotError when it is not a (whole enough) SQLite file."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError as exc:
        raise SnapshotNotFound(f"{path.name}: no such snapshot") from exc
    except OSError as exc:
        raise SnapshotError(f"{path.name}: cannot read: {exc.strerror}") from exc
    if header != SQLITE_HEADER:
        raise SnapshotError(f"{path.name}: not a SQLite database (file header is wrong)")
    size = path.stat().st_size
    if size < 512:
        raise SnapshotError(f"{path.name}: truncated ({size} bytes)")


def verify(path: Path, progress: Progress | None = None) -> CheckedDatabase:
    """Every check of `verify_snapshot`; returns the facts the row check produced."""
    check_header(path)
    manifest = read_manifest(path)
    if manifest is not None:
        size = path.stat().st_size
        if manifest.get("size") != size:
            raise SnapshotError(f"{path.name}: size {size} does not match the manifest ({manifest.get('size')})")
        sha = sha256_file(path, progress)
        if manifest.get("sha256") != sha:
            raise SnapshotError(f"{path.name}: checksum mismatch with its manifest (the file changed or is damaged)")
        remember_sha(path, sha)
    return check_database_file(path, path.name, progress)


def check_unlisted(path: Path) -> tuple[SnapshotInfo, CheckedDatabase]:
    """A snapshot without a manifest, checked now (what restore_snapshot will check); SnapshotError otherwise."""
    checked = verify(Path(path))
    return unlisted_info(Path(path), checked), checked


def verify_snapshot(path: Path) -> None:
    """Raise SnapshotError(reason) unless the file is a sound registry database matching its manifest (if any)."""
    verify(Path(path))
