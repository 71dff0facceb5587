"""The one place a SQLite connection is configured: DSN parsing, PRAGMAs, and the write transaction."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote

from registry.domain.errors import StartupError

# go-sqlite3's DSN parameters (and their short aliases) that map onto a PRAGMA of the same meaning.
_DSN_PRAGMAS = {
    "_journal_mode": "journal_mode",
    "_journal": "journal_mode",
    "_busy_timeout": "busy_timeout",
    "_timeout": "busy_timeout",
    "_foreign_keys": "foreign_keys",
    "_fk": "foreign_keys",
    "_synchronous": "synchronous",
    "_sync": "synchronous",
    "_locking_mode": "locking_mode",
    "_locking": "locking_mode",
    "_auto_vacuum": "auto_vacuum",
    "_vacuum": "auto_vacuum",
    "_case_sensitive_like": "case_sensitive_like",
    "_cslike": "case_sensitive_like",
    "_defer_foreign_keys": "defer_foreign_keys",
    "_defer_fk": "defer_foreign_keys",
    "_ignore_check_constraints": "ignore_check_constraints",
    "_recursive_triggers": "recursive_triggers",
    "_rt": "recursive_triggers",
    "_query_only": "query_only",
    "_secure_delete": "secure_delete",
    "_cache_size": "cache_size",
}
# go-sqlite3 parameters that configure the Go driver rather than SQLite; accepted and ignored here.
_DSN_DRIVER_ONLY = {"_txlock", "_loc", "_mutex"}
# SQLite URI parameters passed through to sqlite3 itself.
_URI_PARAMS = {"mode", "cache", "immutable", "vfs", "psow", "nolock"}

# The reference's file-path DSN: WAL, 5 s busy timeout, foreign keys on (contract §1.2).
DEFAULT_PRAGMAS = {"journal_mode": "WAL", "busy_timeout": "5000", "foreign_keys": "ON"}


@dataclass(frozen=True)
class DatabaseTarget:
    """Where a database lives and how every connection to it is configured."""

    path: Path
    pragmas: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PRAGMAS))
    uri_params: dict[str, str] = field(default_factory=dict)

    @property
    def busy_timeout_ms(self) -> int:
        return int(self.pragmas.get("busy_timeout", "5000"))

    def uri(self, *, read_only: bool = False) -> str:
        params = dict(self.uri_params)
        if read_only:
            params["mode"] = "ro"
        query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
        return self.path.absolute().as_uri() + (f"?{query}" if query else "")


def target_from_path(path: str | Path) -> DatabaseTarget:
    """The path form of a source: the reference's three settings."""
    if not str(path).strip():
        raise StartupError("sqlite profile store: empty path")
    return DatabaseTarget(Path(path))


def target_from_dsn(dsn: str) -> DatabaseTarget:
    """A go-sqlite3 DSN (`file:PATH?_journal_mode=WAL&...`); unknown `_` parameters are a startup error."""
    if not dsn.strip():
        raise StartupError("sqlite profile store: empty dsn")
    location, _, query = dsn.partition("?")
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif location.startswith("file:"):
        location = location[len("file:") :]
    if not location:
        raise StartupError(f"sqlite-dsn {dsn!r}: no database path")
    # SQLite decodes %XX in a URI filename (go-sqlite3 hands the DSN to it as a URI), so `my%20db.db` is `my db.db`.
    location = unquote(location)
    if location == ":memory:":
        raise StartupError("sqlite-dsn: an in-memory database cannot hold a profile registry")
    pragmas = dict(DEFAULT_PRAGMAS)
    uri_params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _DSN_PRAGMAS:
            pragmas[_DSN_PRAGMAS[name]] = value
        elif name in _DSN_DRIVER_ONLY:
            continue
        elif name in _URI_PARAMS:
            uri_params[name] = value
        else:
            raise StartupError(f"sqlite-dsn: unknown parameter {name!r} in {dsn!r}")
    if uri_params.get("mode") == "memory":
        raise StartupError("sqlite-dsn: an in-memory database cannot hold a profile registry")
    _check_pragma_values(pragmas, dsn)
    return DatabaseTarget(Path(location), pragmas, uri_params)


_JOURNAL_MODES = {"delete", "truncate", "persist", "memory", "wal", "off"}
_BOOLEANS = {"0", "1", "true", "false", "on", "off", "yes", "no"}


def _check_pragma_values(pragmas: dict[str, str], dsn: str) -> None:
    """Reject a value SQLite would silently ignore or that could not be spliced safely into a PRAGMA statement."""
    for name, value in pragmas.items():
        bad = not value.replace("-", "").isalnum()
        if name == "busy_timeout":
            bad = bad or not value.isdigit()
        elif name == "journal_mode":
            bad = bad or value.lower() not in _JOURNAL_MODES
        elif name == "foreign_keys":
            bad = bad or value.lower() not in _BOOLEANS
        if bad:
            raise StartupError(f"sqlite-dsn: bad value {value!r} for {name} in {dsn!r}")


# PRAGMAs that change the database file itself rather than the connection.
FILE_PRAGMAS = frozenset({"journal_mode", "auto_vacuum"})


def connect(
    target: DatabaseTarget, *, read_only: bool = False, check_same_thread: bool = True, file_pragmas: bool = True
) -> sqlite3.Connection:
    """Open a connection in autocommit mode (transactions are explicit) with the target's PRAGMAs applied.

    `file_pragmas=False` leaves the file as it is (no switch to WAL) until `apply_file_pragmas`: the store first
    checks that the file is a registry database and not some other application's.
    """
    conn = sqlite3.connect(
        target.uri(read_only=read_only),
        uri=True,
        isolation_level=None,
        timeout=target.busy_timeout_ms / 1000,
        check_same_thread=check_same_thread,
    )
    try:
        # busy_timeout first, so that setting journal_mode waits for a writer instead of failing at once.
        order = sorted(target.pragmas, key=lambda name: name != "busy_timeout")
        for name in order:
            if name in FILE_PRAGMAS and (read_only or not file_pragmas):
                continue
            conn.execute(f"PRAGMA {name}={target.pragmas[name]}")
    except BaseException:
        conn.close()
        raise
    return conn


def apply_file_pragmas(conn: sqlite3.Connection, target: DatabaseTarget) -> None:
    """The file-changing PRAGMAs that `connect(file_pragmas=False)` held back."""
    for name in sorted(FILE_PRAGMAS & target.pragmas.keys()):
        conn.execute(f"PRAGMA {name}={target.pragmas[name]}")


_write_locks: dict[Path, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def write_lock(target: DatabaseTarget) -> threading.Lock:
    """One lock per database file per process: writer threads queue here instead of starving in busy_timeout."""
    key = target.path.resolve()
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, target: DatabaseTarget) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT under the process-wide write lock; ROLLBACK on any exception."""
    with write_lock(target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
