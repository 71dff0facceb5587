"""`profile-registry backup`: a checked snapshot (SQLite's backup API, or one PostgreSQL repeatable-read transaction),
then retention; the CLI helpers the snapshot commands share."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from registry.cli.options import add_registry_sources, non_negative_float, non_negative_int
from registry.config import DEFAULTS
from registry.domain.errors import StartupError
from registry.host_os import lower_process_priority
from registry.storage import backups
from registry.storage.postgres_db import PostgresTarget
from registry.storage.sources import first_database_target, first_sqlite_target, parse_entries
from registry.storage.sqlite_db import DatabaseTarget, target_from_path

# Below this size a backup takes well under a second: no progress bar.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """`--db` or `--profile-registries` (first SQLite or PostgreSQL source), and `--backup-dir`."""
    add_registry_sources(parser)
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=f"the database file (default: the first SQLite source, else {DEFAULTS['DEFAULT_DATABASE']})",
    )
    parser.add_argument(
        "--backup-dir",
        metavar="DIR",
        help="folder of snapshots (default: the SQLite database's folder; required for a PostgreSQL source)",
    )


def database_target(args: argparse.Namespace) -> DatabaseTarget | PostgresTarget:
    """The database these options name, with its settings: `--db`, else the first SQLite or PostgreSQL entry (the one
    the service's API backs up), else the default.

    The whole target travels on to backup and restore, so they connect as the service does (a
    `sqlite-dsn:...?_journal_mode=DELETE` database is never switched to WAL by a backup).
    """
    if args.db:
        return target_from_path(args.db)
    target = first_database_target(parse_entries(args.profile_registries))
    if target is not None:
        return target
    if args.profile_registries:
        raise StartupError("no database among --profile-registries (YAML sources have nothing to back up)")
    return target_from_path(DEFAULTS["DEFAULT_DATABASE"])


def sqlite_database(args: argparse.Namespace) -> DatabaseTarget:
    """The SQLite database these options name (`inspect` reads its file): `--db`, the first SQLite entry, else the
    default; it must exist."""
    target = target_from_path(args.db) if args.db else first_sqlite_target(parse_entries(args.profile_registries))
    if target is None:
        if args.profile_registries:
            raise StartupError("no SQLite source among --profile-registries")
        target = target_from_path(DEFAULTS["DEFAULT_DATABASE"])
    if not target.path.is_file():
        raise StartupError(f"database {target.path} does not exist")
    return target


def backup_dir(args: argparse.Namespace) -> Path | None:
    return Path(args.backup_dir) if args.backup_dir else None


def existing_database(args: argparse.Namespace) -> backups.LiveDatabase:
    """database_target, which must exist (these commands never create a database) and have a backup folder."""
    database = backups.live_database(database_target(args))
    try:
        database.check_exists()
        database.folder(backup_dir(args))
    except backups.SnapshotError as exc:
        raise StartupError(str(exc)) from exc
    return database


def add_snapshot_argument(parser: argparse.ArgumentParser) -> None:
    """The positional SNAPSHOT of `restore` and `diff`, read by snapshot_path."""
    parser.add_argument(
        "snapshot", help="a snapshot name from `profile-registry backups`, or a path to a snapshot file"
    )


def snapshot_path(value: str, target: backups.Database, folder: Path | None) -> Path:
    """A snapshot named on the command line: a file path as given, else a name from `profile-registry backups`."""
    candidate = Path(value)
    if candidate.is_file():
        return candidate
    return backups.find_snapshot(target, value, folder).path


class TerminalProgress:
    """A one-line progress bar on stderr over the backup's phases (the check and the hash run side by side).

    Drawn only when stderr is a terminal and the file is large enough for a backup to take a while.
    """

    PHASES = ("copy", "check", "hash")

    def __init__(self, size: int, stream: TextIO | None = None, min_bytes: int = PROGRESS_MIN_BYTES) -> None:
        self.stream = stream or sys.stderr
        self.enabled = size >= min_bytes and self.stream.isatty()
        self.state: dict[str, float] = {}
        self._last = 0.0
        self._drawn = False
        self._lock = threading.Lock()  # the copy watcher and the hash call from their own threads

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._draw(phase, done, total)

    def _draw(self, phase: str, done: int, total: int) -> None:
        self.state[phase] = done / total if total else 1.0
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        overall = sum(self.state.get(p, 0.0) for p in self.PHASES) / len(self.PHASES)
        parts = "  ".join(f"{p} {self.state.get(p, 0.0):4.0%}" for p in self.PHASES)
        self.stream.write(f"\r[{'#' * int(overall * 30):<30}] {overall:4.0%}  {parts} ")
        self._drawn = True
        if overall >= 1.0:
            self.stream.write("\n")  # before the log line that reports the new snapshot
            self._drawn = False
        self.stream.flush()

    def finish(self) -> None:
        """End the bar's line, if one was drawn."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def add_retention_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        type=non_negative_int,
        default=DEFAULTS["BACKUP_KEEP"],
        metavar="N",
        help=f"keep the newest N snapshots made by this tool (default {DEFAULTS['BACKUP_KEEP']}; 0 = all)",
    )
    parser.add_argument(
        "--max-age",
        type=non_negative_float,
        default=DEFAULTS["BACKUP_MAX_AGE_DAYS"],
        metavar="DAYS",
        help=f"delete our snapshots older than DAYS (default {DEFAULTS['BACKUP_MAX_AGE_DAYS']}; 0 = never); "
        "the newest verified snapshot is always kept",
    )


# A backup is background work beside a serving process: on POSIX it runs at this `nice` level, so on a small
# host the service's requests get the CPU first (bench/backup.py measures the list route's p99 during a backup).
BACKUP_NICENESS = 10
PRIORITIES = ("low", "normal")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backup", help="take a checked snapshot of the database (safe while serving)")
    add_database_options(parser)
    add_retention_options(parser)
    parser.add_argument(
        "--priority",
        choices=PRIORITIES,
        default="low",
        help=f"CPU priority of the backup (default low: nice +{BACKUP_NICENESS} on POSIX, so a service on the "
        "same host keeps its latency; no effect on Windows)",
    )
    parser.set_defaults(run=run)


def lower_priority() -> None:
    """Run the rest of this process as background work (registry/host_os.py: nice and SCHED_IDLE; not on Windows)."""
    lower_process_priority(BACKUP_NICENESS)


def fail(command: str, message: str) -> int:
    print(f"profile-registry {command}: error: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    target = existing_database(args)
    if args.priority == "low":
        lower_priority()
    progress = TerminalProgress(target.size())
    try:
        info = backups.create_backup(target, backup_dir(args), progress=progress)
    except KeyboardInterrupt:
        # create_backup removed its temporary file (and the snapshot, had it been renamed before its manifest).
        progress.finish()
        print("profile-registry backup: interrupted, nothing written", file=sys.stderr)
        return 130
    except backups.SnapshotError as exc:
        progress.finish()
        hint = "; `profile-registry inspect` shows where" if "bad payload" in str(exc) else ""
        return fail("backup", f"{exc}{hint}")
    progress.finish()
    print(info.path)
    # Retention only once the snapshot is written (an interrupted backup above must not have pruned anything).
    for pruned in backups.prune(target, backup_dir(args), keep=args.keep, max_age_days=args.max_age):
        print(f"pruned {pruned.name}", file=sys.stderr)
    return 0
