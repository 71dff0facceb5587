"""One LISTEN connection per PostgreSQL store, in its own thread: it tells the store when the rows changed.

The table's trigger sends NOTIFY on every committed change. The listener waits on its connection's socket; on a
notification, and every CHECK_INTERVAL_S without one, it reads the generation value (one tiny query on its own
connection, never one per request) and hands it to the store, which compares it with the generation it loaded. So
the NOTIFY only says "look now"; the generation decides, and a missed or foreign notification cannot mislead it.

When the connection fails the store is told it is unreachable (reads keep the loaded rows, writes are refused) and
the listener reconnects with a growing pause (RETRY_MIN_S to RETRY_MAX_S). Right after reconnecting it compares the
generation again: that is the fallback check that catches every change committed while it was not listening.
Where LISTEN is not possible (a hot standby), it polls the generation every CHECK_INTERVAL_S instead.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import TYPE_CHECKING

import psycopg

from registry.storage import postgres_db as pg

if TYPE_CHECKING:
    from registry.storage.postgres_store import PostgresRegistryStore

log = logging.getLogger(__name__)

# Longest time between two generation checks while connected: also how soon a dead connection or a lost
# notification is noticed, and how often a store that could not use its pool is given another chance.
CHECK_INTERVAL_S = 2.0
RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0

LISTENING = "listen/notify"
POLLING = f"polling the generation every {CHECK_INTERVAL_S:g} s (LISTEN not available)"
RECONNECTING = "reconnecting (serving the last loaded rows)"


class ChangeListener:
    """The thread and connection that keep one store's `generation_seen` / `unreachable` / `reachable` up to date."""

    def __init__(self, target: pg.PostgresTarget, store: PostgresRegistryStore) -> None:
        self.target = target
        self.store = store
        self.mode = RECONNECTING
        self.connected = False
        self.reconnects = 0  # connections made after the first one
        self.notifications = 0  # NOTIFYs received (each one woke the listener, or arrived with a check)
        self._stop = threading.Event()
        # close() wakes the thread out of select() through this pair (a socket, so select() works on Windows too).
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"pg-listener {target.location}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._wake_read.close()
        self._wake_write.close()

    def _run(self) -> None:
        pause = RETRY_MIN_S
        first = True
        while not self._stop.is_set():
            try:
                with pg.connect(self.target, autocommit=True) as conn:
                    if not first:
                        self.reconnects += 1
                    first = False
                    pause = RETRY_MIN_S
                    self._serve(conn)
            except (psycopg.Error, OSError, ValueError) as exc:  # select() on a socket the server closed: OSError
                self.connected = False
                self.mode = RECONNECTING
                if self._stop.is_set():
                    break
                self.store.unreachable(exc)
            except Exception:
                log.exception("PostgreSQL listener for %s failed; restarting it", self.target.location)
                self.connected = False
                self.mode = RECONNECTING
            self._stop.wait(pause)
            pause = min(pause * 2, RETRY_MAX_S)
        self.connected = False

    def _serve(self, conn: psycopg.Connection) -> None:
        """LISTEN (or poll), then check the generation on every wake-up until stopped or the connection fails."""
        try:
            conn.execute(f"LISTEN {pg.CHANNEL}")
            self.mode = LISTENING
        except (psycopg.errors.FeatureNotSupported, psycopg.errors.ActiveSqlTransaction,
                psycopg.errors.ReadOnlySqlTransaction):
            self.mode = POLLING
        self.connected = True
        while not self._stop.is_set():
            # The fallback check on (re)connecting, a notification, or the interval: all the same query.
            generation = conn.execute(f"SELECT generation FROM {pg.GENERATION_TABLE}").fetchone()[0]  # type: ignore[index]
            self.store.reachable()
            self.store.generation_seen(generation)
            self.store.refresh_if_stale(conn)
            if self.mode == LISTENING:
                # Notifications that arrived with the query's reply are answered by the query that just ran.
                self.notifications += sum(1 for _ in conn.notifies(timeout=0))
            ready, _, _ = select.select([conn.fileno(), self._wake_read.fileno()], [], [], CHECK_INTERVAL_S)
            if self._wake_read.fileno() in ready:
                return
