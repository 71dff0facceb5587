"""What the bytes of a SQLite file say, read without opening a connection: the header, and a stale `-wal`.

Separate from the SQLite store so that the store (at open), the backups and the source sniffing share one
definition of the header without importing each other.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from registry.domain.errors import StartupError
from registry.storage.wal_ownership import SQLITE_HEADER, foreign_wal_reason

log = logging.getLogger(__name__)

# UTC time in file names this service gives: snapshots (`profiles.db.bak.YYYYMMDD-HHMMSS`, as in the runbook) and
# the stale -wal/-shm files it moves aside.
FILE_STAMP = "%Y%m%d-%H%M%S"


def has_sqlite_header(path: Path) -> bool:
    """Whether the file starts with the SQLite header (OSError when it cannot be read)."""
    with Path(path).open("rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def stale_wal_reason(db_path: Path) -> str | None:
    """Why a `-wal` beside `db_path` cannot belong to it (the offline restore's trap), or None.

    A WAL-mode database carries 2 in header bytes 18-19; our snapshots (and any rollback-journal file) carry 1.
    A non-empty `-wal` beside a file whose header says rollback journal was left by the file that was copied
    over: SQLite would replay it on open and bring old rows back. A runbook `cp` of a WAL-mode file carries 2;
    for it, registry/storage/wal_ownership.py compares what the -wal and -shm say was checkpointed with the file.
    """
    wal = Path(f"{db_path}-wal")
    try:
        if wal.stat().st_size == 0:
            return None
        with Path(db_path).open("rb") as handle:
            header = handle.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return None
    if header[18] == 1 and header[19] == 1:
        return "the database file is in rollback-journal mode (a copied-in snapshot), so the WAL beside it is left over"
    return foreign_wal_reason(db_path)


def move_stale_wal(db_path: Path) -> list[Path]:
    """If the `-wal` beside `db_path` is stale, rename it and `-shm` to `*.stale-<UTC stamp>`; returns new paths.

    Call only before any connection to `db_path` is open (the service's open does).
    """
    reason = stale_wal_reason(db_path)
    if reason is None:
        return []
    stamp = datetime.now(UTC).strftime(FILE_STAMP)
    moved = []
    for suffix in ("-wal", "-shm"):
        path = Path(f"{db_path}{suffix}")
        if path.exists():
            dest = path.with_name(f"{path.name}.stale-{stamp}")
            n = 2
            while dest.exists():
                dest = path.with_name(f"{path.name}.stale-{stamp}-{n}")
                n += 1
            try:
                os.rename(path, dest)
            except OSError as exc:
                raise StartupError(
                    f"{path} is left over from the database that was copied over {db_path} ({reason}) and could "
                    f"not be moved aside: {exc.strerror}; stop every process using it and move it away by hand"
                ) from exc
            moved.append(dest)
    log.warning("%s: moved the stale -wal/-shm aside as %s (%s)", db_path, ", ".join(p.name for p in moved), reason)
    return moved
