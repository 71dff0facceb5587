"""Notice that the file at a database's path is no longer the file the service opened.

An operator who replaces the database with `mv new.db profiles.db` under a running service gives the path a new
file (a new inode) while every open connection still reads the old, unlinked one. Writes open new connections and
land in the new file; without this check, reads would go on coming from the old one until a restart. The check is
one stat() of the path (about a microsecond) before every read and write, so no write reaches a replaced file
before the store has looked at it. (A `cp` over the file keeps its inode and is seen by SQLite itself, like any
other write.)
"""

from __future__ import annotations

import os
from pathlib import Path


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

    def replaced(self) -> tuple[int, int] | None:
        """The new file's identity when another file now has the path, else None.

        A path with no file at all is not "replaced": the open connections keep serving what they have.
        """
        current = identity(self.path)
        if current is None or current == self.opened:
            return None
        return current

    def follow(self, new: tuple[int, int]) -> None:
        """The store has reopened the path: this is the file it serves now."""
        self.opened = new
