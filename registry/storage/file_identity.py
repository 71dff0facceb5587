"""Notice that the file at a database's path is no longer the file the service opened.

An operator who replaces the database with `mv new.db profiles.db` under a running service gives the path a new
file (a new inode) while every open connection still reads the old, unlinked one. Writes open new connections and
land in the new file; without this check, reads would go on coming from the old one until a restart. The check is
one stat() of the path before every write, so no write reaches a replaced file before the store has looked at it,
and at most one per READ_RECHECK_SECONDS on reads. A stat() costs about a microsecond, but it releases the GIL: on
the hot read route, with eight waitress threads, each release became a thread handoff, and py-spy put 10% of the
server's samples in it (as much as all of Flask's dispatch). So reads may serve the old file for up to that long
after an `mv`, and the first read or write after it switches. (A `cp` over the file keeps its inode and is seen
by SQLite itself, like any other write.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# How stale the read path's view of "which file is at the path" may be (see the module docstring).
READ_RECHECK_SECONDS = 0.5


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class FileIdentity:
    """The identity of the file a store opened, and whether another file has taken its path since."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.opened = identity(self.path)
        self._looked_at = time.monotonic()

    def replaced(self, *, recheck_after: float = 0.0) -> tuple[int, int] | None:
        """The new file's identity when another file now has the path, else None.

        With `recheck_after`, the path is looked at only when the last look is older than that many seconds
        (None meanwhile). A path with no file at all is not "replaced": the open connections keep serving
        what they have.
        """
        now = time.monotonic()
        if recheck_after and now - self._looked_at < recheck_after:
            return None
        self._looked_at = now
        current = identity(self.path)
        if current is None or current == self.opened:
            return None
        return current

    def follow(self, new: tuple[int, int]) -> None:
        """The store has reopened the path: this is the file it serves now."""
        self.opened = new
