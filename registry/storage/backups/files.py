"""Snapshot files on disk: where they live, what they are called, and how one is written durably and hashed."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from registry.host_os import can_hard_link
from registry.storage.backups.live import Database, live_database
from registry.storage.interface import Progress
from registry.storage.sqlite_files import FILE_STAMP

# Prefix of a snapshot (or manifest) being written: never listed, removed by retention once abandoned.
TMP_PREFIX = ".tmp-"


def backup_folder(target: Database, backup_dir: Path | None = None) -> Path:
    """Where snapshots of the database live: `backup_dir`, else the database's own folder (as in the runbook).

    A PostgreSQL database has no folder of its own: NoBackupFolder unless `backup_dir` is given.
    """
    return live_database(target).folder(backup_dir)


def snapshot_name(target: Database, created: datetime) -> str:
    """The runbook's name for a snapshot taken at `created` (UTC): `profiles.db.bak.YYYYMMDD-HHMMSS`."""
    return f"{live_database(target).name}.bak.{created.strftime(FILE_STAMP)}"


def snapshot_name_pattern(target: Database) -> re.Pattern[str]:
    """Matches the database's snapshot names (with the `-2`, `-3` of same-second snapshots); group 1 the stamp."""
    return re.compile(rf"^{re.escape(live_database(target).name)}\.bak\.(\d{{8}}-\d{{6}})(?:-(\d+))?$")


def stamp_of(name: str, target: Database) -> datetime | None:
    """The UTC time in a snapshot's name, or None when the name is not one of the database's snapshots."""
    match = snapshot_name_pattern(target).match(name)
    return datetime.strptime(match.group(1), FILE_STAMP).replace(tzinfo=UTC) if match else None


def publish(
    tmp: Path,
    folder: Path,
    base: str,
    hold: Callable[[Path], None] = lambda path: None,
    unhold: Callable[[Path], None] = lambda path: None,
) -> Path:
    """Move `tmp` to `base` or `base-2`, `base-3`...: never over an existing file.

    `hold` is called with each name before the file is linked there (and `unhold` when the name was taken), so
    retention never sees the new file unheld (retention._delete_unless_held).
    """
    n = 1
    while True:
        final = folder / (base if n == 1 else f"{base}-{n}")
        hold(final)
        try:
            if can_hard_link():
                # link() fails when the name exists, which rename() on POSIX would silently overwrite.
                os.link(tmp, final)
                os.unlink(tmp)
            else:
                os.rename(tmp, final)  # no os.link at all: Windows' rename refuses an existing target
            return final
        except FileExistsError:
            unhold(final)
            n += 1
        except OSError:
            if final.exists():
                unhold(final)
                n += 1
                continue
            # A filesystem without hard links (FAT, some network shares): fall back to a checked rename.
            try:
                os.rename(tmp, final)
            except BaseException:
                unhold(final)
                raise
            return final
        except BaseException:
            unhold(final)
            raise


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress("hash", done, total)
    return digest.hexdigest()


# (path, size, mtime_ns, inode) -> sha256: hashing a large snapshot once per process is enough.
_sha_cache: dict[tuple[str, int, int, int], str] = {}
_sha_cache_lock = threading.Lock()


def _sha_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def remember_sha(path: Path, sha: str) -> None:
    """Record a hash just computed, so listing the file does not hash it again."""
    with _sha_cache_lock:
        _sha_cache[_sha_key(path)] = sha


def cached_sha(path: Path) -> str:
    """The file's sha256, hashed at most once per process while its size, mtime and inode stay the same."""
    key = _sha_key(path)
    with _sha_cache_lock:
        if key in _sha_cache:
            return _sha_cache[key]
    sha = sha256_file(path)
    with _sha_cache_lock:
        _sha_cache[key] = sha
    return sha
