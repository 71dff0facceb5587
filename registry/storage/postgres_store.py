"""The registry on PostgreSQL: the RegistryStore contract (registry/storage/interface.py) for several instances.

Reads: every request is served from the loaded StoreSnapshot without a query. The store knows when to reload from
one LISTEN connection per instance (registry/storage/postgres_listener.py): the table's trigger bumps a generation
value and sends NOTIFY on every change, the listener wakes, reads the generation, and when it differs from the one
loaded marks the rows stale; the next `snapshot()` (or the listener itself) reloads them through the pool. While the
listener is disconnected nothing can be missed for long: on reconnecting it compares the generation again.

Writes: one transaction that first locks the generation row (SELECT ... FOR UPDATE). Every change to the table
updates that row from its trigger, so while a writer holds the lock no other instance (nor psql) can commit a
change: the row read inside the transaction, the `expected_version` compared against it and the chain-wide checks
the caller makes are the truth, as under SQLite's BEGIN IMMEDIATE. Two instances racing on one version: the second
waits for the lock, then sees the first one's row, and its version check refuses (409).

The server going away: reads keep serving the last loaded rows, health reports the reason and since when, writes
are refused at once with StoreUnavailable (503) until the listener reconnects, which then reloads what changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import psycopg
import psycopg_pool

from registry.domain import gojson
from registry.domain.errors import ReadOnlyStore, RegistryError, StartupError, StoreUnavailable
from registry.domain.model import encode_registry
from registry.storage import postgres_db as pg
from registry.storage import postgres_snapshots as snapshots
from registry.storage.interface import (
    Progress,
    RegistryStore,
    SnapshotError,
    SnapshotUnavailable,
    StorageError,
    StoreHealth,
    StoreSnapshot,
)
from registry.storage.pending_write import PendingRowWrite
from registry.storage.postgres_listener import CHECK_INTERVAL_S, ChangeListener
from registry.storage.row_loading import DEFAULT_MAX_ROW_BYTES, RowLoader

log = logging.getLogger(__name__)

T = TypeVar("T")

# Connections a store keeps for writes and reloads (reads are served from memory and need none). Writers beyond
# this wait for a free connection up to POOL_WAIT_S, then get 503.
POOL_MAX = 10
POOL_WAIT_S = 5.0
# A reload waits this long at most for a connection: readers queue behind it, so it must give up soon when the
# server has just gone away (they are then served the rows loaded before).
RELOAD_WAIT_S = 1.0
SELECT_ROWS = snapshots.SELECT_ROWS
SELECT_GENERATION = f"SELECT generation FROM {pg.GENERATION_TABLE}"
UPSERT = (
    f"INSERT INTO {pg.TABLE} (slug, payload_json, updated_at_ms) VALUES (%s, %s, %s) "
    "ON CONFLICT (slug) DO UPDATE SET payload_json = excluded.payload_json, updated_at_ms = excluded.updated_at_ms"
)


class PostgresRegistryStore:
    """One PostgreSQL registry table; see the module docstring for how reads stay fresh and writes stay exact."""

    # A NOTIFY arrives within milliseconds; the listener's periodic generation check bounds a missed one.
    max_staleness_s = CHECK_INTERVAL_S

    def __init__(self, target: pg.PostgresTarget, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> None:
        self.target = target
        # The largest payload_json loaded or written (REGISTRY_MAX_ROW_BYTES).
        self.max_row_bytes = max_row_bytes
        self.read_only = False
        self.created = False
        self.schema = ""
        self._rows = RowLoader(max_row_bytes=max_row_bytes)
        self._closed = False
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._listener: ChangeListener | None = None
        self._server_version = ""
        # Staleness: `_stale_seq` moves whenever the rows may have changed (the listener saw another generation, or
        # we committed); a reload records the value it started from. Unequal means reload before serving.
        self._stale_seq = 0
        self._loaded_seq = 0
        self._loaded_generation: int | None = None
        self._reload_lock = threading.Lock()
        self._state_lock = threading.Lock()
        # Why the server cannot be used right now, and since when (ms); None while it answers.
        self._problem: str | None = None
        self._problem_since_ms: int | None = None
        self._local = threading.local()  # .conn: the connection of this thread's open write transaction

    # --- opening ------------------------------------------------------------------------------------------

    def open(self) -> Self:
        """Connect, create the table and its trigger when missing, load the rows, start the listener."""
        try:
            with pg.connect(self.target, autocommit=True) as conn:
                self.created, self.schema = pg.migrate(conn, self.target)
                self.read_only = not pg.can_write(conn)
                self._server_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
                self._reload_with(conn)
        except psycopg.OperationalError as exc:
            raise StartupError(f"cannot connect to PostgreSQL at {self.target.location}: {pg.one_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StartupError(f"PostgreSQL at {self.target.location}: {pg.one_line(exc)}") from exc
        self._pool = self._new_pool()
        self._listener = ChangeListener(self.target, self)
        self._listener.start()
        if self.read_only:
            log.warning("%s refuses writes for this role (or is a standby): serving it read-only", self.target.location)
        return self

    def _new_pool(self) -> psycopg_pool.ConnectionPool:
        return psycopg_pool.ConnectionPool(
            self.target.conninfo,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True},
            # Each checkout is checked (one round trip on writes only), so a write after an outage never gets a
            # connection the server closed.
            check=psycopg_pool.ConnectionPool.check_connection,
            timeout=POOL_WAIT_S,
            name=f"profile-registry {self.target.location}",
            open=True,
            num_workers=1,
        )

    def close(self) -> None:
        """Stop the listener and close the pool; idempotent."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        if self._listener is not None:
            self._listener.stop()
        if self._pool is not None:
            self._pool.close(timeout=1.0)

    # --- reading ------------------------------------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        """The loaded rows; reloaded first when a change was signalled since they were read and the server answers."""
        if self._closed:
            raise RegistryError("postgresql profile store closed")
        if self._stale_seq != self._loaded_seq and self._problem is None:
            self._reload()
        return self._rows.snapshot

    def changed_since(self, generation: int) -> bool:
        return self.snapshot().generation != generation

    def _reload(self) -> None:
        with self._reload_lock:
            if self._stale_seq == self._loaded_seq or self._problem is not None:
                return  # another thread reloaded while this one waited, or the server went away meanwhile
            tx_conn: psycopg.Connection | None = getattr(self._local, "conn", None)
            try:
                if tx_conn is not None:
                    # Inside this thread's write transaction: read through it (it holds the generation lock, and
                    # waiting for a pool connection here could wait on writers queued behind that very lock).
                    self._read_rows(tx_conn)
                    return
                with self._connection(RELOAD_WAIT_S) as conn:
                    self._reload_with(conn)
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                # Unavailable until the listener's next successful check (at most CHECK_INTERVAL_S away).
                self.unreachable(exc)

    def _reload_with(self, conn: psycopg.Connection) -> None:
        """Read the generation and every row as of one moment (a repeatable-read transaction)."""
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            self._read_rows(conn)
        finally:
            conn.execute("COMMIT")

    def _read_rows(self, conn: psycopg.Connection) -> None:
        started_from = self._stale_seq
        generation = conn.execute(SELECT_GENERATION).fetchone()[0]  # type: ignore[index]
        self._rows.load(conn.execute(SELECT_ROWS).fetchall())
        self._loaded_generation = generation
        self._loaded_seq = started_from

    def generation_seen(self, generation: int) -> None:
        """The listener read the table's generation: a value other than the loaded one means the rows changed."""
        if generation != self._loaded_generation:
            self._mark_stale()

    def _mark_stale(self) -> None:
        with self._state_lock:
            self._stale_seq += 1

    def refresh_if_stale(self, conn: psycopg.Connection) -> None:
        """Reload through the listener's connection when stale, so an instance is current before its next request.

        The listener's own connection, not the pool: right after an outage the pool may still be reconnecting.
        """
        if self._stale_seq == self._loaded_seq or self._closed:
            return
        with self._reload_lock:
            if self._stale_seq != self._loaded_seq:
                self._reload_with(conn)

    # --- availability ---------------------------------------------------------------------------------------

    def unreachable(self, exc: BaseException) -> None:
        """The server (or the table) cannot be used: remember why and since when; reads keep the loaded rows."""
        reason = pg.one_line(exc) or type(exc).__name__
        with self._state_lock:
            if self._problem is None:
                self._problem_since_ms = int(time.time() * 1000)
                log.error("PostgreSQL %s unavailable: %s (serving the last loaded rows; writes refused)",
                          self.target.location, reason)
            self._problem = reason

    def reachable(self) -> None:
        """The listener is connected again: writes go through, and the next check decides whether to reload."""
        with self._state_lock:
            recovered = self._problem is not None
            if recovered:
                log.info("PostgreSQL %s reachable again (unavailable since %s ms)", self.target.location,
                         self._problem_since_ms)
            self._problem = None
            self._problem_since_ms = None
            if not recovered or self._closed:
                return
            # psycopg_pool backs off between failed reconnections (seconds, doubling): a fresh pool connects now,
            # so writes come back as soon as the server does. The old one closes in the background.
            old, self._pool = self._pool, self._new_pool()
        if old is not None:
            threading.Thread(target=old.close, kwargs={"timeout": 1.0}, daemon=True).start()

    @contextmanager
    def _connection(self, wait_s: float = POOL_WAIT_S) -> Iterator[psycopg.Connection]:
        if self._problem is not None:
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((self._problem_since_ms or 0) / 1000))
            raise StoreUnavailable(
                f"not stored: PostgreSQL at {self.target.location} is unavailable since {since}: {self._problem}"
            )
        if self._pool is None or self._closed:
            raise RegistryError("postgresql profile store closed")
        with self._pool.connection(timeout=wait_s) as conn:
            yield conn

    def health(self) -> StoreHealth:
        listener = self._listener
        pool = self._pool.get_stats() if self._pool is not None else {}
        settings: dict[str, Any] = {
            "engine": "postgresql",
            "server_version": self._server_version,
            "schema": self.schema,
            "change_detection": listener.mode if listener else "stopped",
            "listener_connected": bool(listener and listener.connected),
            "listener_reconnects": listener.reconnects if listener else 0,
            "notifications": listener.notifications if listener else 0,
            "loaded_generation": self._loaded_generation,
            "lock_timeout_ms": pg.LOCK_TIMEOUT_MS,
            "pool": {
                "max": POOL_MAX,
                "size": pool.get("pool_size", 0),
                "idle": pool.get("pool_available", 0),
                "waiting": pool.get("requests_waiting", 0),
            },
        }
        return StoreHealth(self.target.location, self.read_only, settings, self._problem, self._problem_since_ms)

    # --- writing ------------------------------------------------------------------------------------------

    def put_payload(self, slug: str, payload_json: str, updated_at_ms: int | None = None) -> None:
        """Insert or replace one row exactly as given."""
        now = int(time.time() * 1000) if updated_at_ms is None else updated_at_ms
        with self._transaction() as conn:
            conn.execute(UPSERT, (slug, payload_json, now))

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """A read-committed write transaction holding the generation lock; committed when the block ends."""
        if self.read_only:
            raise ReadOnlyStore()
        try:
            with self._connection() as conn:
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = {pg.LOCK_TIMEOUT_MS}")
                    generation = conn.execute(SELECT_GENERATION + " FOR UPDATE").fetchone()[0]  # type: ignore[index]
                    self._local.conn = conn
                    try:
                        if generation != self._loaded_generation:
                            self._mark_stale()
                        yield conn
                    finally:
                        self._local.conn = None
                # Committed: this instance's next read reloads (the NOTIFY reaches our listener too, a little later).
                self._mark_stale()
        except psycopg.errors.LockNotAvailable as exc:
            raise StoreUnavailable(f"not stored: the registry is busy (another writer held it for "
                                   f"{pg.LOCK_TIMEOUT_MS} ms); try again") from exc
        except psycopg_pool.PoolTimeout as exc:
            raise StoreUnavailable(f"not stored: no connection to PostgreSQL at {self.target.location} within "
                                   f"{POOL_WAIT_S:g} s: {pg.one_line(exc)}") from exc
        except psycopg.OperationalError as exc:
            # Lost before or during COMMIT: the write may or may not be stored, so say exactly that.
            self.unreachable(exc)
            raise StoreUnavailable(
                f"the connection to PostgreSQL at {self.target.location} was lost; the write may not have been "
                f"stored, read the registry before retrying ({pg.one_line(exc)})"
            ) from exc
        except psycopg.Error as exc:
            # Rolled back (a table changed under us, the server's disk full...): the web layer maps StorageError.
            kind = "full" if isinstance(exc, psycopg.errors.DiskFull) else "other"
            raise StorageError(f"PostgreSQL at {self.target.location}: {pg.one_line(exc)}", kind) from exc

    @contextmanager
    def write(self, slug: str, *, dry_run: bool = False) -> Iterator[PendingRowWrite]:
        """RegistryStore.write: the caller's block runs inside the locked transaction (see the module docstring)."""
        with self.write_many([slug], dry_run=dry_run) as rows:
            yield rows[slug]

    @contextmanager
    def write_many(self, slugs: list[str], *, dry_run: bool = False) -> Iterator[dict[str, PendingRowWrite]]:
        """RegistryStore.write_many: every row locked (in slug order, so two such writes cannot deadlock)."""
        with self._transaction() as conn:
            now_ms = int(time.time() * 1000)
            stored_as: dict[str, str] = {}
            txs: dict[str, PendingRowWrite] = {}
            for slug in sorted(dict.fromkeys(slugs)):
                rows = conn.execute(
                    f"SELECT slug, payload_json, updated_at_ms FROM {pg.TABLE} WHERE lower(btrim(slug)) = %s "
                    'ORDER BY slug COLLATE "C" FOR UPDATE',
                    (slug,),
                ).fetchall()
                stored_as[slug] = rows[-1][0] if rows else slug
                if not rows:
                    txs[slug] = PendingRowWrite(slug, None, None, now_ms, None)
                    continue
                # Rows whose slugs normalise alike: the last one is the one loaded (as in the reference).
                row_slug, payload_json, stamp = rows[-1]
                self.snapshot()  # current with the locked state, so its decoded rows can be reused
                current, reason = self._rows.decoded(row_slug, payload_json)
                txs[slug] = PendingRowWrite(slug, current, reason, now_ms, int(stamp))
            yield {slug: txs[slug] for slug in dict.fromkeys(slugs)}
            if not dry_run:
                for tx in txs.values():
                    if not tx.changed:
                        continue
                    if tx.after is None:
                        conn.execute(f"DELETE FROM {pg.TABLE} WHERE lower(btrim(slug)) = %s", (tx.slug,))
                    else:
                        payload = gojson.dumps(encode_registry(tx.after))
                        conn.execute(UPSERT, (stored_as[tx.slug], payload, tx.now_ms))

    # --- snapshots --------------------------------------------------------------------------------------------

    def backup_to(self, dest: Path, progress: Progress | None = None) -> None:
        """Every row as of one repeatable-read transaction, into the SQLite snapshot file `dest`."""
        snapshots.backup_database(self.target, dest, progress)

    def restore_from(self, source: Path, before_copy: Callable[[], T]) -> T:
        """Replace every row with the snapshot's in one transaction, holding every writer of every instance back.

        Through this store's own write transaction (not snapshots.restore_database): it refuses at once while the
        server is away, and marks the rows stale on commit, so this instance's next read shows the restored rows.
        """
        rows = snapshots.snapshot_rows(source)
        what = f"restore of {source.name} into {self.target.location}"
        try:
            with self._transaction() as conn:
                # The generation lock is held: nobody commits between the safety snapshot and the copy.
                value = before_copy()
                snapshots.replace_rows(conn, rows)
        except StoreUnavailable as exc:
            raise SnapshotUnavailable(f"{what} failed: {exc}") from exc
        except StorageError as exc:
            raise SnapshotError(f"{what} failed: {exc}") from exc
        return value


# The PostgreSQL store follows the storage contract (mypy checks this assignment against the protocol).
_CONTRACT: type[RegistryStore] = PostgresRegistryStore
