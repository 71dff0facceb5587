"""All SQL on the profile_registries table: open and migrate, load rows into snapshots, write rows.

No Flask here. Reads are served from an immutable `StoreSnapshot`; `snapshot()` checks `PRAGMA data_version`
on the thread's reader connection so that a commit by any other connection (another process, the sqlite3 shell,
our own writer connections, a restore) is seen on the next call, while an unchanged database costs a look at the
wal-index header (registry/storage/walwatch.py) or, where that cannot be read, one PRAGMA.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from registry.domain import gojson
from registry.domain.errors import ReadOnlyStore, RegistryError, StartupError, StoreUnavailable
from registry.domain.model import (
    encode_registry,
)
from registry.host_os import create_owner_only_file
from registry.storage import sqlite_db as db
from registry.storage import wal_reset
from registry.storage.file_identity import READ_RECHECK_SECONDS, FileIdentity
from registry.storage.interface import (
    CheckedDatabase,
    Progress,
    RegistryStore,
    SnapshotError,
    StorageError,
    StoreHealth,
    StoreSnapshot,
)
from registry.storage.pending_write import PendingRowWrite
from registry.storage.row_loading import (
    DEFAULT_MAX_ROW_BYTES,
    RowLoader,
    decode_or_reason,
    normalised_or_raw,
    payload_text,
    row_timestamp,
)
from registry.storage.schema import describe as describe_schema
from registry.storage.schema import schema_problems
from registry.storage.sqlite_files import move_stale_wal
from registry.storage.walwatch import WalIndexWatch

log = logging.getLogger(__name__)

T = TypeVar("T")

TABLE = "profile_registries"
# Page size of a database this service creates. A registry row is one JSON document of kilobytes to megabytes, so
# it lives in a chain of overflow pages: 16 KiB pages make those chains 4x shorter than SQLite's 4 KiB default, and
# reading every row (on each change), a snapshot and its check touch 4x fewer pages (bench/backup.py: snapshot
# 2.9x -> 1.9x a plain copy, verified backup 5.1x -> 4.0x on 200 MB). Existing databases keep their page size.
NEW_DATABASE_PAGE_SIZE = 16384

CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, updated_at_ms INTEGER NOT NULL DEFAULT 0)"
)
EXPECTED_COLUMNS = ("slug", "payload_json", "updated_at_ms")
# Our schema version, kept in PRAGMA user_version so the table stays exactly the reference's.
SCHEMA_VERSION = 1


@contextmanager
def storage_errors() -> Iterator[None]:
    """sqlite3's OperationalError (full disk, locked database...) as StorageError: callers never import sqlite3."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "full" in text or "disk I/O error" in text:
            kind = "full"
        elif "locked" in text or "busy" in text:
            kind = "busy"
        else:
            kind = "other"
        raise StorageError(text, kind) from exc


def _upsert(conn: sqlite3.Connection, slug: str, payload_json: str, updated_at_ms: int) -> None:
    conn.execute(
        f"INSERT INTO {TABLE} (slug, payload_json, updated_at_ms) VALUES (?, ?, ?) "
        "ON CONFLICT(slug) DO UPDATE SET payload_json=excluded.payload_json, updated_at_ms=excluded.updated_at_ms",
        (slug, payload_json, updated_at_ms),
    )


def table_columns(conn: sqlite3.Connection) -> tuple[str, ...] | None:
    """The registry table's column names, or None when the database has no such table."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)).fetchone() is None:
        return None
    return tuple(r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})"))


def select_rows(conn: sqlite3.Connection, slug: str | None = None) -> sqlite3.Cursor:
    """Every row (or the rows stored under exactly `slug`) as (slug, payload_json, updated_at_ms), by slug."""
    where, args = ("", ()) if slug is None else (" WHERE slug = ?", (slug,))
    return conn.execute(f"SELECT slug, payload_json, updated_at_ms FROM {TABLE}{where} ORDER BY slug", args)


def describe_open_error(path: Path, exc: Exception, *, read_only: bool = False) -> str:
    """One line that tells the operator why a database file cannot be used."""
    if path.is_dir():
        return f"cannot open database {path}: it is a directory"
    if not path.parent.exists():
        return f"cannot open database {path}: folder {path.parent} does not exist"
    if "not a database" in str(exc):
        return f"cannot open database {path}: the file is not a SQLite database"
    folder = path.parent if str(path.parent) else Path(".")
    if isinstance(exc, PermissionError) or not os.access(folder, os.W_OK):
        if path.exists():
            # Even a read-only WAL database needs its -shm file, which SQLite creates beside it.
            what = "the file is read-only and " if read_only else ""
            return (
                f"cannot open database {path}: {what}its folder {folder} is not writable "
                "(SQLite needs to create the -wal/-shm files there); make the folder writable by the service user"
            )
        return f"cannot create database {path}: folder {folder} is not writable"
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"cannot open database {path}: the file or its folder is read-only ({text})"
    return f"cannot open database {path}: {text}"


class SQLiteRegistryStore:
    """One SQLite registry database: migration at open, fresh snapshots on read, whole-row writes."""

    # Every snapshot() looks at the file (the wal-index header or data_version): another process's commit is seen
    # by the next read.
    max_staleness_s = 0.0

    def __init__(self, target: db.DatabaseTarget, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> None:
        self.target = target
        # The largest payload_json loaded or written (REGISTRY_MAX_ROW_BYTES).
        self.max_row_bytes = max_row_bytes
        self.read_only = False
        self._lock = threading.Lock()
        self._watcher: sqlite3.Connection | None = None
        self._wal_index = WalIndexWatch(target.path)
        # One reader connection per request thread: `PRAGMA data_version` on it needs no lock shared by all requests.
        self._local = threading.local()
        self._readers: weakref.WeakSet[_Reader] = weakref.WeakSet()
        self._closed = False
        # The file served, and how many times a replaced file was reopened (readers of an older file reconnect).
        self._identity = FileIdentity(target.path)
        self._file_generation = 0
        self._refused_replacement: tuple[int, int] | None = None
        # Why writes are refused although the file is writable (a replaced file with a schema that is not ours).
        self.write_refusal: str | None = None
        self._rows = RowLoader(max_row_bytes=max_row_bytes)
        self._snapshot = StoreSnapshot()
        self.created = False
        # Why the rows could not be read again (the table dropped with the sqlite3 shell, a damaged page), and since
        # when: the last rows loaded are served meanwhile, health says degraded, writes are 503. None when fine.
        self._problem: str | None = None
        self._problem_since_ms: int | None = None

    # --- opening ------------------------------------------------------------------------------------------

    def open(self) -> Self:
        """Create the file and table when missing, check the schema, load the rows. Raises StartupError."""
        path = self.target.path
        self.created = not path.exists()
        self.read_only = path.is_file() and not os.access(path, os.W_OK)
        if not self.created and not self.read_only:
            # The runbook's offline restore (cp a snapshot over the file) can leave the old -wal beside it, which
            # SQLite would replay on open.
            move_stale_wal(path)
        try:
            if self.created and path.parent.is_dir():
                # Prompts in a registry are sensitive: create the file owner-only before SQLite does (SQLite would
                # make it 0644), so the -wal and -shm files, which copy the main file's mode, are owner-only too.
                create_owner_only_file(path)
            conn = db.connect(self.target, read_only=self.read_only, check_same_thread=False, file_pragmas=False)
            self._identity = FileIdentity(path)
        except (sqlite3.Error, OSError) as exc:
            raise StartupError(describe_open_error(path, exc, read_only=self.read_only)) from exc
        try:
            self._migrate(conn)
            if not self.read_only:
                db.apply_file_pragmas(conn, self.target)
            self._wal_index.enable_if_wal(conn)
            self._watcher = conn
            with self._lock:
                self._snapshot = self._load(conn)
        except sqlite3.Error as exc:
            self.close()
            conn.close()
            raise StartupError(describe_open_error(path, exc, read_only=self.read_only)) from exc
        except StartupError:
            self.close()
            conn.close()
            raise
        if self.read_only:
            log.warning("database %s is read-only: serving it read-only (writes are refused)", path)
        return self

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if table_columns(conn) is not None:
            # Exactly the reference's schema: a trigger or a CHECK in the file would act on every later write.
            problems = schema_problems(conn)
            if problems:
                raise StartupError(f"database {self.target.path}: {describe_schema(problems)}; not serving it")
            return
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        others = [t for t in tables if not t.startswith("sqlite_")]
        if others:
            raise StartupError(
                f"database {self.target.path} has no {TABLE} table but holds other tables "
                f"({', '.join(sorted(others)[:5])}): it looks like another application's database; not touching it"
            )
        if self.read_only:
            raise StartupError(f"database {self.target.path} is read-only and has no {TABLE} table")
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # Only an empty file can still choose its page size (and only before WAL mode is on).
            conn.execute(f"PRAGMA page_size={NEW_DATABASE_PAGE_SIZE}")
        with db.transaction(conn, self.target):
            conn.execute(CREATE_TABLE)
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the watcher and every thread's reader connection; idempotent.

        A clean shutdown leaves no committed frame in the -wal: the watcher checkpoints and empties it first (it
        cannot while another connection still reads; closing the last connection then lets SQLite do it).
        """
        with self._lock:
            self._closed = True
            self._wal_index.close()
            if self._watcher is not None:
                if not self.read_only:
                    try:
                        self._watcher.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        wal_reset.try_truncate(self._watcher)
                    except sqlite3.Error as exc:
                        log.warning("checkpoint at close of %s failed: %s", self.target.path, exc)
                self._watcher.close()
                self._watcher = None
            for reader in list(self._readers):
                reader.conn.close()

    def connect(self) -> sqlite3.Connection:
        """A new connection for one thread's use (writes, backups); the caller closes it."""
        return db.connect(self.target, read_only=self.read_only)

    # --- reading ------------------------------------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        """The current rows; reloaded only when some other connection committed since this thread last looked.

        Each thread asks its own reader connection, so there is no lock that every request thread would queue on
        (a shared lock held across a call that releases the GIL convoys the threads). Before asking SQLite, the
        wal-index header is compared with the one read before this thread's last PRAGMA: unchanged means no commit
        since, and the request costs no sqlite3 call at all (registry/storage/walwatch.py says why that matters). A
        change seen by several threads is loaded once: a reload that finds every row as it was keeps the
        snapshot object, so views and caches built on it stay valid.
        """
        if self._closed:
            raise RegistryError("sqlite profile store closed")
        self._notice_replaced_file(recheck_after=READ_RECHECK_SECONDS)
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None and reader.file_generation != self._file_generation:
            reader.conn.close()  # it reads the file that was replaced
            with self._lock:
                self._readers.discard(reader)
            reader = None
        if reader is None:
            reader = self._local.reader = self._new_reader()
        # Read before the PRAGMA: a commit landing between the two changes the header seen next time.
        header = self._wal_index.header()
        if header is not None and header == reader.wal_header:
            return self._snapshot
        try:
            with storage_errors():
                version = reader.conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.ProgrammingError as exc:  # closed by close() from another thread
            raise RegistryError("sqlite profile store closed") from exc
        if version != reader.seen:
            with self._lock:
                if self._closed:
                    raise RegistryError("sqlite profile store closed")
                try:
                    with storage_errors():
                        self._snapshot = self._load(reader.conn)
                except StorageError as exc:
                    # Keep serving what was loaded, and look again on the next request (seen is not moved on).
                    self._note_problem(str(exc))
                    return self._snapshot
                self._note_problem(None)
            reader.seen = version
        reader.wal_header = header
        return self._snapshot

    def _note_problem(self, reason: str | None) -> None:
        """Record (or clear) why the rows cannot be read; logged once when it starts and when it ends."""
        if reason is not None and self._problem is None:
            self._problem_since_ms = int(time.time() * 1000)
            log.error("cannot read the rows of %s: %s (serving the rows loaded before; writes refused)",
                      self.target.path, reason)
        elif reason is None and self._problem is not None:
            log.info("the rows of %s can be read again", self.target.path)
            self._problem_since_ms = None
        self._problem = reason

    def _refuse_while_unreadable(self) -> None:
        """StoreUnavailable (503) while the rows cannot be read: a write would act on a table that is not there."""
        self.snapshot()  # looks again, so a table put back is written to at once
        if self._problem is not None:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((self._problem_since_ms or 0) / 1000))
            raise StoreUnavailable(f"not stored: {self.target.path} cannot be read since {since}: {self._problem}")

    def _notice_replaced_file(self, *, recheck_after: float = 0.0) -> None:
        replacement = self._identity.replaced(recheck_after=recheck_after)
        if replacement is not None:
            self._follow_replaced_file(replacement)

    def _follow_replaced_file(self, replacement: tuple[int, int]) -> None:
        """Another file has this store's path (`mv new.db profiles.db`): serve it from now on.

        The watcher and the wal-index watch move to the new file, the rows are loaded from it, and each thread's
        reader reconnects on its next read (new connections open the path, so reads must follow, as writes
        already do). A new file whose schema is not exactly the reference's is read but never written: a
        trigger or a CHECK in it would act on every write, so writes are refused with the reason.
        """
        with self._lock:
            if self._closed or self._identity.opened == replacement:
                return  # closed, or another thread followed it already
            path = self.target.path
            try:
                conn = db.connect(self.target, read_only=self.read_only, check_same_thread=False, file_pragmas=False)
                try:
                    problems = schema_problems(conn)
                    snapshot = self._load(conn)
                except BaseException:
                    conn.close()
                    raise
            except sqlite3.Error as exc:
                if self._refused_replacement != replacement:
                    self._refused_replacement = replacement
                    log.error("database %s was replaced by a file that cannot be read (%s)", path, exc)
                return
            self.write_refusal = (
                f"{path} was replaced by a file whose {describe_schema(problems)}" if problems else None
            )
            if problems:
                log.error(
                    "database %s was replaced by another file: serving it read-only: %s", path, self.write_refusal
                )
            else:
                log.warning("database %s was replaced by another file (mv): now serving the new file", path)
            old_watcher, self._watcher = self._watcher, conn
            old_index, self._wal_index = self._wal_index, WalIndexWatch(path)
            self._wal_index.enable_if_wal(conn)
            self._identity.follow(replacement)
            self._file_generation += 1
            self._snapshot = snapshot
            old_index.close()
            if old_watcher is not None:
                old_watcher.close()

    def _new_reader(self) -> _Reader:
        # check_same_thread=False only so close() (or the finaliser) may close it from another thread; it is used
        # by its own thread alone. When the thread ends, its thread-local reader goes and the finaliser closes the
        # connection, so short-lived threads (chat runs, backups) leave no open file behind.
        conn = db.connect(self.target, read_only=self.read_only, check_same_thread=False)
        reader = _Reader(conn, self._file_generation)
        weakref.finalize(reader, conn.close)
        with self._lock:
            if self._closed:
                conn.close()
                raise RegistryError("sqlite profile store closed")
            self._readers.add(reader)
        return reader

    def open_readers(self) -> int:
        """How many per-thread reader connections are open (threads that read and are still alive)."""
        return len(self._readers)

    def health(self) -> StoreHealth:
        """Where the file is, and journal_mode and busy_timeout as SQLite reports them, for /api/health."""
        with self._lock:
            if self._watcher is None:
                raise RegistryError("sqlite profile store closed")
            settings = {
                "journal_mode": self._watcher.execute("PRAGMA journal_mode").fetchone()[0],
                "busy_timeout_ms": self._watcher.execute("PRAGMA busy_timeout").fetchone()[0],
            }
        return StoreHealth(str(self.target.path), self.read_only, settings, self._problem, self._problem_since_ms)

    def changed_since(self, generation: int) -> bool:
        return self.snapshot().generation != generation

    def _load(self, conn: sqlite3.Connection) -> StoreSnapshot:
        return self._rows.load(select_rows(conn).fetchall())

    # --- writing ------------------------------------------------------------------------------------------

    def put_payload(self, slug: str, payload_json: str, updated_at_ms: int | None = None) -> None:
        """Insert or replace one registry row as given, then checkpoint so the main file holds it."""
        now = int(time.time() * 1000) if updated_at_ms is None else updated_at_ms
        with storage_errors():
            conn = self.connect()
        try:
            with storage_errors(), db.transaction(conn, self.target):
                _upsert(conn, slug, payload_json, now)
            checkpoint(conn)
        finally:
            conn.close()

    # --- read-modify-write (admin API and import; registry.service.writes drives these) ---------------------------

    @contextmanager
    def write(self, slug: str, *, dry_run: bool = False) -> Iterator[PendingRowWrite]:
        """One write: BEGIN IMMEDIATE, read the row, let the caller decide, write the row, COMMIT, checkpoint.

        The caller's block runs inside the transaction, so nothing else commits between the read and the write;
        it raises to refuse. Readers keep serving their immutable snapshot until the commit, then the next
        `snapshot()` sees the new row: old or new registry, never a mix (RegistryStore.write says the contract).
        """
        with self.write_many([slug], dry_run=dry_run) as rows:
            yield rows[slug]

    @contextmanager
    def write_many(self, slugs: list[str], *, dry_run: bool = False) -> Iterator[dict[str, PendingRowWrite]]:
        """`write` over several rows in one BEGIN IMMEDIATE transaction (a partial restore changes them together)."""
        if self.read_only:
            raise ReadOnlyStore()
        self._notice_replaced_file()
        if self.write_refusal:
            raise ReadOnlyStore(f"store is read-only: {self.write_refusal}")
        self._refuse_while_unreadable()
        with storage_errors():
            conn = self.connect()
        try:
            with storage_errors(), db.transaction(conn, self.target):
                now_ms = int(time.time() * 1000)
                stored_as: dict[str, str] = {}
                txs: dict[str, PendingRowWrite] = {}
                for slug in dict.fromkeys(slugs):
                    rows = conn.execute(
                        f"SELECT slug, payload_json, updated_at_ms FROM {TABLE} WHERE lower(trim(slug)) = ? "
                        "ORDER BY slug",
                        (slug,),
                    ).fetchall()
                    txs[slug] = self._pending(slug, rows, now_ms)
                    stored_as[slug] = rows[-1][0] if rows else slug
                yield txs
                changed = [tx for tx in txs.values() if tx.changed]
                if not dry_run:
                    for tx in changed:
                        if tx.after is None:
                            conn.execute(f"DELETE FROM {TABLE} WHERE lower(trim(slug)) = ?", (tx.slug,))
                        else:
                            _upsert(conn, stored_as[tx.slug], gojson.dumps(encode_registry(tx.after)), tx.now_ms)
            if not dry_run and changed:
                checkpoint(conn)  # never raises: the write is committed
        finally:
            conn.close()

    def _pending(self, slug: str, rows: list[Any], now_ms: int) -> PendingRowWrite:
        """The write handle of one row, from the rows stored under its normalised slug."""
        if not rows:
            return PendingRowWrite(slug, None, None, now_ms, None)
        # Rows whose slugs normalise alike: the last one is the one loaded (as in the reference).
        row_slug, payload_json, raw_stamp = rows[-1]
        # Nobody else can commit while we hold the write transaction, so a refreshed snapshot has parsed exactly
        # this text already: reuse it (read-only; edits never mutate their input).
        self.snapshot()
        current, reason = self._rows.decoded(row_slug, payload_json)
        return PendingRowWrite(slug, current, reason, now_ms, row_timestamp(raw_stamp)[0])

    # --- snapshots --------------------------------------------------------------------------------------------

    def backup_to(self, dest: Path, progress: Progress | None = None) -> None:
        copy_database(self.target, dest, progress)

    def restore_from(self, source: Path, before_copy: Callable[[], T]) -> T:
        return restore_database(self.target, source, before_copy)


# How long a write waits for readers that pin the WAL before leaving the rest to the next checkpoint.
CHECKPOINT_WAIT_MS = 250


def checkpoint(conn: sqlite3.Connection) -> bool:
    """Move committed WAL pages into the main file, so a plain `cp` of the database holds every row.

    PASSIVE never waits, but stops short when a reader that started before our commit still reads (a request
    reloading the rows): those frames would then sit in the WAL until the next write, and a `cp` taken in
    between would miss the row. So a short FULL follows when PASSIVE left frames behind, holding this process's
    write lock so that it waits for readers only: if another of our writers holds the lock, that writer's own
    checkpoint comes next and this one steps aside (FULL would otherwise stall every writer behind it). A long
    reader (a backup) makes FULL give up after CHECKPOINT_WAIT_MS; the backup checkpoints when it ends.
    Once the main file holds every frame, the -wal is emptied as well (at once, or by wal_reset soon after).
    Returns True when the main file holds every committed page. Never raises: it runs after COMMIT, and a write
    that committed must not be reported as failed because the checkpoint could not run (a full disk, say).
    """
    try:
        return _checkpoint(conn)
    except sqlite3.Error as exc:
        log.warning("checkpoint after commit failed (the write itself is committed): %s", exc)
        return False


def _checkpoint(conn: sqlite3.Connection) -> bool:
    _, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    if frames <= 0:
        return True  # the WAL is already empty (or the database is not in WAL mode)
    main_file = Path(next((row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"), ""))
    lock = db.write_lock(db.DatabaseTarget(main_file))
    if not lock.acquire(blocking=False):
        return done >= frames  # the writer holding the lock checkpoints (and empties the WAL) after its commit
    try:
        if done < frames:
            previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
            conn.execute(f"PRAGMA busy_timeout={min(int(previous), CHECKPOINT_WAIT_MS)}")
            try:
                busy, frames, done = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(previous)}")
            if busy or done < frames:
                wal_reset.truncate_later(main_file)
                return False
        # Every frame is in the main file: empty the -wal too (registry/storage/wal_reset.py says why).
        if not wal_reset.try_truncate(conn):
            wal_reset.truncate_later(main_file)
    finally:
        lock.release()
    return True


# --- copying whole databases (backups and restores) ------------------------------------------------------


class _CopyWatcher:
    """Report the temporary file's growth while the one-step backup runs (it gives no progress of its own)."""

    def __init__(self, tmp: Path, total: int, progress: Progress | None) -> None:
        self.tmp, self.total, self.progress = tmp, total, progress
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True) if progress else None

    def _run(self) -> None:
        assert self.progress is not None
        while not self.stop.wait(0.1):
            try:
                size = self.tmp.stat().st_size
            except OSError:
                continue
            self.progress("copy", min(size, self.total), self.total)

    def __enter__(self) -> Self:
        if self.thread:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join()
        if self.progress:
            self.progress("copy", self.total, self.total)


def copy_database(target: db.DatabaseTarget, dest_path: Path, progress: Progress | None = None) -> None:
    """Copy the live database into the existing file `dest_path` with the backup API, as one rollback-mode file."""
    try:
        source = db.connect(target, read_only=True)
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot open database {target.path}: {exc}") from exc
    try:
        dest = sqlite3.connect(str(dest_path), isolation_level=None)
        try:
            # The destination is a private temporary file that is checked and fsynced before it gets its name:
            # a rollback journal and per-transaction syncs would only protect a file nobody can see yet. (No
            # mmap_size, which would be faster still: an I/O error on a mapped page is a SIGBUS that would kill
            # the serving process the dashboard's "Back up now" runs in, instead of an error it can report.)
            dest.execute("PRAGMA journal_mode=OFF")
            dest.execute("PRAGMA synchronous=OFF")
            with _CopyWatcher(dest_path, target.path.stat().st_size, progress):
                # One step: a paged backup restarts from scratch whenever another connection writes.
                source.backup(dest)
            # The copy carries the live header's WAL flag; DELETE makes it one file that needs no -wal.
            dest.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise SnapshotError(f"backup of {target.path} failed: {exc}") from exc
        finally:
            dest.close()
    finally:
        source.close()


def create_snapshot_file(dest_path: Path, rows: Iterable[Any], total: int, progress: Progress | None = None) -> None:
    """Fill the existing, empty file `dest_path` with `rows` (slug, payload_json, updated_at_ms) in the registry schema.

    How another engine's backup becomes the same kind of file as a SQLite backup: the reference's table, this
    service's page size and schema version, one rollback-mode file. Like copy_database, the file is private until
    it is checked and named, so it is written without a journal or syncs.
    """
    try:
        dest = sqlite3.connect(str(dest_path), isolation_level=None)
        try:
            dest.execute(f"PRAGMA page_size={NEW_DATABASE_PAGE_SIZE}")
            dest.execute("PRAGMA journal_mode=OFF")
            dest.execute("PRAGMA synchronous=OFF")
            dest.execute("BEGIN")
            dest.execute(CREATE_TABLE)
            dest.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            for done, (slug, payload_json, updated_at_ms) in enumerate(rows, 1):
                dest.execute(
                    f"INSERT INTO {TABLE} (slug, payload_json, updated_at_ms) VALUES (?, ?, ?)",
                    (slug, payload_json, updated_at_ms),
                )
                if progress and done % 100 == 0:
                    progress("copy", done, total)
            dest.execute("COMMIT")
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot write snapshot {dest_path.name}: {exc}") from exc
    if progress:
        progress("copy", total, total)


def restore_database(target: db.DatabaseTarget, snapshot_path: Path, before_copy: Callable[[], T]) -> T:
    """Copy a checked snapshot file into the live database in one step (RegistryStore.restore_from's contract).

    The copy goes through the backup API into a connection on the live file (one step, under the process-wide
    write lock), followed by a TRUNCATE checkpoint; running services see it through `PRAGMA data_version`.
    The live file is never renamed, replaced or deleted.
    """
    try:
        source = open_snapshot_file(snapshot_path)
    except sqlite3.Error as exc:
        raise SnapshotError(f"{snapshot_path.name}: cannot open: {exc}") from exc
    try:
        live = db.connect(target)
        try:
            snapshot_page_size = source.execute("PRAGMA page_size").fetchone()[0]
            live_page_size = live.execute("PRAGMA page_size").fetchone()[0]
            if live_page_size != snapshot_page_size and _journal_mode(live) == "wal":
                raise SnapshotError(
                    f"{snapshot_path.name}: page size {snapshot_page_size} differs from the live database's "
                    f"{live_page_size}; a WAL database cannot change page size (stop the service and use the "
                    f"offline flow)"
                )
            # Our own writers wait from `before_copy` (the safety snapshot) to the end of the copy, so no write of
            # this process falls between them (it would be in neither). Writers in other processes are not held back.
            with db.write_lock(target):
                # The backup API retries a busy destination forever: wait for another process's write transaction
                # here instead, for the target's busy timeout at most, before anything (the safety snapshot) is done.
                try:
                    live.execute("BEGIN IMMEDIATE")
                    live.execute("ROLLBACK")
                except sqlite3.OperationalError as exc:
                    raise SnapshotError(f"restore into {target.path} refused: {exc}") from exc
                value = before_copy()
                try:
                    source.backup(live)
                except sqlite3.Error as exc:
                    # One step, one transaction: a failed copy is rolled back and the live rows stay as they were.
                    raise SnapshotError(f"restore of {snapshot_path.name} into {target.path} failed: {exc}") from exc
            live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            live.close()
    finally:
        source.close()
    return value


def check_database_file(
    path: Path, label: str, progress: Progress | None = None, *, strict: bool = True
) -> CheckedDatabase:
    """integrity_check, the schema, every row; SnapshotError (with the reason) for anything that fails.

    strict (a snapshot about to be restored): the schema must be exactly the reference's and every row must
    decode and validate. Not strict (the fresh copy a backup just took of the live database): a bad row or an
    odd schema is recorded in the result, not refused, because a backup must keep the data as it is, above all
    on the day a row has gone bad; only a copy that is not a sound SQLite file with the table is refused.
    """
    try:
        conn = open_snapshot_file(path)
    except sqlite3.Error as exc:
        raise SnapshotError(f"{path.name}: cannot open: {exc}") from exc
    try:
        return _check_connection(conn, label, progress, strict)
    finally:
        conn.close()


def _check_connection(conn: sqlite3.Connection, label: str, progress: Progress | None, strict: bool) -> CheckedDatabase:
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        if result != ["ok"]:
            raise SnapshotError(f"{label}: integrity check failed: {'; '.join(result[:5])}")
        columns = table_columns(conn)
        if columns is None:
            raise SnapshotError(f"{label}: no {TABLE} table")
        problems = schema_problems(conn)
        if problems and (strict or not set(EXPECTED_COLUMNS) <= set(columns)):
            raise SnapshotError(f"{label}: {describe_schema(problems)}")
        total = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        checked = CheckedDatabase({}, {}, {}, int(page_size), schema_problems=problems)
        for i, (slug, payload, updated) in enumerate(select_rows(conn)):
            row_slug = slug if isinstance(slug, str) else str(slug)
            text, text_problem = payload_text(payload)
            result_or_reason = text_problem or decode_or_reason(row_slug, text)
            updated_at_ms, stamp_problem = row_timestamp(updated)
            if stamp_problem and not isinstance(result_or_reason, str):
                result_or_reason = stamp_problem
            if isinstance(result_or_reason, str):
                if strict:
                    raise SnapshotError(f"{label}: registry {row_slug!r} has a bad payload: {result_or_reason}")
                checked.quarantined[normalised_or_raw(row_slug)] = result_or_reason
            else:
                registry = result_or_reason
                checked.registries[registry["slug"]] = updated_at_ms
                checked.defaults[registry["slug"]] = registry.get("default_profile_slug") or ""
                checked.profiles[registry["slug"]] = sorted(registry["profiles"])
            if progress:
                progress("check", i + 1, total)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{label}: not a usable SQLite database: {exc}") from exc
    return checked


def stored_rows(target: db.DatabaseTarget, slug: str | None = None) -> list[tuple[Any, Any, Any]]:
    """Every row (or those stored under exactly `slug`) as stored, read-only: (slug, payload_json, updated_at_ms).

    The values are as the sqlite3 shell left them (a BLOB, a number...); StorageError when the file cannot be
    read as a registry database.
    """
    try:
        conn = db.connect(target, read_only=True)
        try:
            return select_rows(conn, slug).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(str(exc)) from exc


def row_stamps(target: db.DatabaseTarget) -> dict[str, int]:
    """slug -> updated_at_ms of every row as stored (read-only; restores compare these)."""
    conn = db.connect(target, read_only=True)
    try:
        return {str(s): row_timestamp(u)[0] for s, u in conn.execute(f"SELECT slug, updated_at_ms FROM {TABLE}")}
    finally:
        conn.close()


def checkpoint_after_backup(target: db.DatabaseTarget) -> None:
    """The backup's read transaction pinned the WAL; writes made meanwhile are moved into the main file now.

    Without this, the service's per-write checkpoint property ("cp of the main file holds every row") would not
    hold for writes committed while a backup ran, until the next write. The connection carries the target's
    settings, so a database kept in another journal mode stays in it.
    """
    try:
        conn = db.connect(target)
        try:
            _, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames > 0 and not (done >= frames and wal_reset.try_truncate(conn)):
                wal_reset.truncate_later(target.path)  # leave no committed frame in the -wal (wal_reset.py)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("checkpoint after backup of %s failed: %s", target.path, exc)


def open_snapshot_file(path: Path) -> sqlite3.Connection:
    """Read-only and immutable: checking a snapshot must never create a -wal/-shm beside it or take locks."""
    return sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None)


def read_database_file(target: db.DatabaseTarget) -> StoreSnapshot:
    """Every row of a live registry database, read through a read-only connection without opening a store on it
    (no migration, no watcher, nothing logged): one side of a comparison. SnapshotError when it is no registry
    database."""
    return _read_rows(lambda: db.connect(target, read_only=True), target.path.name)


def read_snapshot_file(path: Path) -> StoreSnapshot:
    """Every row of a snapshot file, opened immutable so nothing is created beside it; as read_database_file."""
    return _read_rows(lambda: open_snapshot_file(path), path.name)


def _read_rows(connect: Callable[[], sqlite3.Connection], label: str) -> StoreSnapshot:
    """The rows decoded and validated by the loader's rules: a bad row is in `quarantined` with the reason."""
    try:
        conn = connect()
        try:
            rows = conn.execute(f"SELECT slug, payload_json, updated_at_ms FROM {TABLE} ORDER BY slug").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise SnapshotError(f"{label}: not a usable registry database: {exc}") from exc
    return RowLoader(report_quarantine=False).load(rows)


def _journal_mode(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


class _Reader:
    """One thread's reader connection, the data_version it last saw and the wal-index header read before it."""

    __slots__ = ("__weakref__", "conn", "file_generation", "seen", "wal_header")

    def __init__(self, conn: sqlite3.Connection, file_generation: int) -> None:
        self.conn = conn
        self.file_generation = file_generation  # the store's file generation this connection was opened on
        self.seen: int | None = None
        # The wal-index header read just before `seen` was taken (None: none could be read).
        self.wal_header: bytes | None = None


# The SQLite store follows the storage contract (mypy checks this assignment against the protocol).
_CONTRACT: type[RegistryStore] = SQLiteRegistryStore
