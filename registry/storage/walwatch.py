"""A lock-free "has anything been committed?" check for a WAL database: read the wal-index header from the -shm file.

Why: the store must notice a commit by another process on the very next request, and `PRAGMA data_version` per
request does that, but every sqlite3 call releases the GIL; with eight waitress threads each release turns into a
thread handoff, which cost the read routes about 15% of their throughput (bench/read_api.py). Reading 96 bytes of
the memory-mapped -shm file holds the GIL and makes no system call.

The WAL-index header (https://www.sqlite.org/walformat.html, "The WAL-Index Header") is 48 bytes, stored twice at
the start of the -shm file; every write transaction changes it (the change counter, the last frame, the salts
when the WAL restarts). So when the header is byte-for-byte what it was at a connection's last `data_version`
check, nothing was committed since and that check still holds. The header is only a shortcut in front of the
PRAGMA, never a replacement: whenever it cannot be read cleanly (no -shm file yet, the two copies differ because a
writer is updating them, the database is not in WAL mode, exclusive locking keeps the index in heap memory,
Windows) `header()` returns None and the caller asks SQLite.
"""

from __future__ import annotations

import mmap
import sqlite3
import threading
from pathlib import Path

from registry.host_os import can_map_wal_index

HEADER_SIZE = 48


class WalIndexWatch:
    """The current wal-index header of one database, or None when it cannot be trusted."""

    def __init__(self, database: Path) -> None:
        self._shm_path = Path(f"{database}-shm")
        self._map: mmap.mmap | None = None
        self._usable = False  # set by enable_if_wal, from a connection's journal and locking modes
        self._lock = threading.Lock()

    def enable_if_wal(self, conn: sqlite3.Connection) -> None:
        """Turn the shortcut on when `conn` shows a shared-memory WAL database; called once per store, at open."""
        journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        locking = str(conn.execute("PRAGMA locking_mode").fetchone()[0]).lower()
        # Not on Windows (registry/host_os.py says why): there the PRAGMA alone answers.
        self._usable = journal == "wal" and locking == "normal" and can_map_wal_index()

    def header(self) -> bytes | None:
        """The 48-byte header when both copies agree; None means "ask SQLite"."""
        if not self._usable:
            return None
        mapped = self._map
        if mapped is None:
            mapped = self._open()
            if mapped is None:
                return None
        try:
            both = mapped[: 2 * HEADER_SIZE]
        except ValueError:  # closed by close() from another thread
            return None
        first, second = both[:HEADER_SIZE], both[HEADER_SIZE:]
        # A writer updates the two copies one after the other; a read between the two sees them differ.
        if first != second or first[12] != 1:  # byte 12 is isInit: the index has been built
            return None
        return first

    def _open(self) -> mmap.mmap | None:
        with self._lock:
            if self._map is None:
                try:
                    with open(self._shm_path, "rb") as handle:
                        self._map = mmap.mmap(handle.fileno(), 2 * HEADER_SIZE, access=mmap.ACCESS_READ)
                except (OSError, ValueError):  # not there yet, or still shorter than the header
                    return None
            return self._map

    def close(self) -> None:
        with self._lock:
            self._usable = False
            if self._map is not None:
                self._map.close()
                self._map = None
