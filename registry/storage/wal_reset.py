"""Empty the `-wal` file once its frames are in the main file, now or, when readers are in the way, soon after.

A checkpoint copies committed frames into the main file but leaves them in the `-wal` until the next writer
starts over. Those frames are a trap for the runbook's offline restore: stop the service hard (`kill -9`), `cp` an
older copy over `profiles.db`, start, and SQLite replays the old `-wal` over the copy, bringing back rows the
restore was meant to replace (a runbook `cp` copy is a WAL-mode file, so nothing in it tells the `-wal` is not
its own). A `TRUNCATE` checkpoint empties the file, so when the service is idle no committed frame is left behind.

TRUNCATE must wait until no reader still reads from the WAL. A write never waits for that: it tries once without
waiting and, if a reader is in the way (a request reloading the rows, a backup), hands the file to one background
thread that tries again a little later, backing off, until it succeeds or the file is gone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from registry.storage import sqlite_db as db

log = logging.getLogger(__name__)

# First retry after this long, doubling up to the maximum: readers of this service finish in milliseconds, a
# backup in seconds to minutes.
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0


def try_truncate(conn: sqlite3.Connection) -> bool:
    """One TRUNCATE checkpoint that does not wait for readers or writers; True when the `-wal` is now empty.

    The caller holds this process's write lock for the file (so none of our writers is in the way) and has
    already checkpointed: what is left to do is only the reset of the file.
    """
    previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout=0")
    try:
        busy, frames, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:  # "database is locked": a writer of another process
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(previous)}")
    return not busy and frames <= 0


class _Retrier:
    """The one background thread that empties `-wal` files a write could not empty at once."""

    def __init__(self) -> None:
        self._pending: dict[Path, float] = {}  # main file -> current back-off
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, main_file: Path) -> None:
        with self._wake:
            self._pending.setdefault(main_file, RETRY_FIRST_S)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wal-reset", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> list[Path]:
        with self._wake:
            return list(self._pending)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending:
                    self._wake.wait()
                delay = min(self._pending.values())
            time.sleep(delay)
            for main_file in self.pending():
                done = _truncate_file(main_file)
                with self._wake:
                    if done:
                        self._pending.pop(main_file, None)
                    elif main_file in self._pending:
                        self._pending[main_file] = min(self._pending[main_file] * 2, RETRY_MAX_S)


_retrier = _Retrier()


def truncate_later(main_file: Path) -> None:
    """Empty `main_file`'s `-wal` in the background as soon as no reader is in the way."""
    _retrier.add(Path(main_file))


def pending() -> list[Path]:
    """Files whose `-wal` is still waiting to be emptied (for tests and health)."""
    return _retrier.pending()


def _truncate_file(main_file: Path) -> bool:
    """One background attempt; True when done or when there is nothing left to do (the file is gone)."""
    if not main_file.is_file():
        return True
    # mode=rw: never create a database where one was removed meanwhile; file_pragmas=False: change no setting.
    target = db.DatabaseTarget(main_file, uri_params={"mode": "rw"})
    lock = db.write_lock(target)
    if not lock.acquire(blocking=False):
        return False  # one of our writers is committing; it checkpoints itself, and the next round looks again
    try:
        conn = db.connect(target, file_pragmas=False)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return try_truncate(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.debug("emptying the WAL of %s failed, will retry: %s", main_file, exc)
        return False
    finally:
        lock.release()
