"""Snapshots of a PostgreSQL registry without opening a store on it: take one, read the rows, restore one.

What `profile-registry backup`, `backups`, `restore` and `diff` need of a PostgreSQL source, done with one plain
connection each (no pool, no listener, no migration: a backup never creates a table). The snapshot is the same
kind of file as a SQLite backup (registry/storage/sqlite_store.py create_snapshot_file), so the SQLite backend and
the Go reference serve it as it is. A running store's own restore (PostgresRegistryStore.restore_from) uses the
same row replacement inside its write transaction.

Failures: the server unreachable (or a writer holding the registry past the lock timeout) is
SnapshotUnavailable (503, try again); anything else the server refuses is SnapshotError with its reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from registry.storage import postgres_db as pg
from registry.storage.interface import Progress, SnapshotError, SnapshotUnavailable, StoreSnapshot
from registry.storage.row_loading import RowLoader
from registry.storage.sqlite_store import create_snapshot_file, open_snapshot_file

T = TypeVar("T")

# Rows fetched per round trip by a backup's server-side cursor.
FETCH_ROWS = 500
SELECT_ROWS = f'SELECT slug, payload_json, updated_at_ms FROM {pg.TABLE} ORDER BY slug COLLATE "C"'


@contextmanager
def _errors(what: str, target: pg.PostgresTarget) -> Iterator[None]:
    """The driver's exceptions as the snapshot errors the commands and the web layer answer with."""
    try:
        yield
    except psycopg.errors.LockNotAvailable as exc:
        raise SnapshotUnavailable(
            f"{what} refused: another writer held {target.location} for {pg.LOCK_TIMEOUT_MS} ms; try again"
        ) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise SnapshotError(
            f"{what} failed: {target.location} holds no registry table ({pg.one_line(exc)}; `serve` creates it)"
        ) from exc
    except psycopg.OperationalError as exc:
        raise SnapshotUnavailable(f"{what} failed: PostgreSQL at {target.location} is unavailable: "
                                  f"{pg.one_line(exc)}") from exc
    except psycopg.Error as exc:
        raise SnapshotError(f"{what} failed: PostgreSQL at {target.location}: {pg.one_line(exc)}") from exc


def _read_only_transaction(conn: psycopg.Connection) -> None:
    """Every read of one call sees one committed state, whatever commits meanwhile."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")


def backup_database(target: pg.PostgresTarget, dest: Path, progress: Progress | None = None) -> None:
    """Every row as of one repeatable-read transaction, into the existing, empty SQLite file `dest`."""
    with _errors(f"backup of {target.location}", target), pg.connect(target, autocommit=True) as conn:
        _read_only_transaction(conn)
        total = conn.execute(f"SELECT count(*) FROM {pg.TABLE}").fetchone()[0]  # type: ignore[index]
        # A named (server-side) cursor streams the rows: a large registry is never held in memory whole.
        with conn.cursor(name="profile_registry_backup") as cur:
            cur.itersize = FETCH_ROWS
            cur.execute(SELECT_ROWS)
            create_snapshot_file(dest, cur, total, progress)
        conn.execute("COMMIT")


def row_stamps(target: pg.PostgresTarget) -> dict[str, int]:
    """slug -> updated_at_ms of every row (what a restore compares)."""
    with _errors(f"reading {target.location}", target), pg.connect(target, autocommit=True) as conn:
        return {str(s): int(u) for s, u in conn.execute(f"SELECT slug, updated_at_ms FROM {pg.TABLE}")}


def read_database(target: pg.PostgresTarget) -> StoreSnapshot:
    """Every row decoded by the loader's rules (a bad row quarantined with its reason): one side of a diff."""
    with _errors(f"reading {target.location}", target), pg.connect(target, autocommit=True) as conn:
        _read_only_transaction(conn)
        rows = conn.execute(SELECT_ROWS).fetchall()
        conn.execute("COMMIT")
    return RowLoader(report_quarantine=False).load(rows)


def snapshot_rows(source: Path) -> list[tuple[str, str, int]]:
    """A checked snapshot file's rows, as PostgreSQL takes them (payload as text, the stamp an integer)."""
    try:
        snapshot = open_snapshot_file(source)
        try:
            rows = snapshot.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries").fetchall()
        finally:
            snapshot.close()
    except sqlite3.Error as exc:
        raise SnapshotError(f"{source.name}: cannot read: {exc}") from exc
    try:
        return [(str(s), _text(p), int(u or 0)) for s, p, u in rows]
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{source.name}: a row cannot be stored in PostgreSQL: {exc}") from exc


def replace_rows(conn: psycopg.Connection, rows: list[tuple[str, str, int]]) -> None:
    """Inside the caller's transaction: every row of the table replaced by `rows`."""
    # DELETE, not TRUNCATE: TRUNCATE's exclusive lock would stall every other instance's reload.
    conn.execute(f"DELETE FROM {pg.TABLE}")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {pg.TABLE} (slug, payload_json, updated_at_ms) VALUES (%s, %s, %s)", rows)


def restore_database(target: pg.PostgresTarget, source: Path, before_copy: Callable[[], T]) -> T:
    """Replace every row with the snapshot's in one transaction (RegistryStore.restore_from's contract).

    The transaction first locks the generation row, as every writer of every instance does (and as the table's
    trigger does for a `psql` change): from `before_copy` (the safety snapshot) to the commit nobody else can
    commit a change, so every row the restore replaces is in the safety snapshot.
    """
    rows = snapshot_rows(source)
    with _errors(f"restore of {source.name} into {target.location}", target):
        with pg.connect(target) as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = {pg.LOCK_TIMEOUT_MS}")
            conn.execute(f"SELECT generation FROM {pg.GENERATION_TABLE} FOR UPDATE")
            value = before_copy()
            replace_rows(conn, rows)
    return value


def _text(payload: Any) -> str:
    """A snapshot's payload as text (the sqlite3 shell may have stored bytes)."""
    return payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
