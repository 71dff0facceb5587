"""`profile-registry backup`: a checked snapshot through SQLite's backup API, then retention; shared CLI helpers."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from registry import backups
from registry.cli.options import add_registry_sources
from registry.config import DEFAULTS
from registry.db import target_from_dsn
from registry.errors import StartupError
from registry.sources import parse_entries

# Below this size a backup takes well under a second: no progress bar.
PROGRESS_MIN_BYTES = 16 * 1024 * 1024


def add_database_options(parser: argparse.ArgumentParser) -> None:
    """`--db` or `--profile-registries` (first SQLite source), and `--backup-dir`."""
    add_registry_sources(parser)
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=f"the database file (default: the first SQLite source, else {DEFAULTS['DEFAULT_DATABASE']})",
    )
    parser.add_argument("--backup-dir", metavar="DIR", help="folder of snapshots (default: the database's folder)")


def database_path(args: argparse.Namespace) -> Path:
    """The database these options name: `--db`, else the first SQLite entry, else the default database."""
    if args.db:
        return Path(args.db)
    for spec in parse_entries(args.profile_registries):
        if spec.kind == "sqlite":
            return Path(spec.location)
        if spec.kind == "sqlite-dsn":
            return target_from_dsn(spec.location).path
    if args.profile_registries:
        raise StartupError("no SQLite source among --profile-registries (YAML sources have nothing to back up)")
    return Path(DEFAULTS["DEFAULT_DATABASE"])


def backup_dir(args: argparse.Namespace) -> Path | None:
    return Path(args.backup_dir) if args.backup_dir else None


def existing_database(args: argparse.Namespace) -> Path:
    """database_path, which must exist: these commands never create a database."""
    path = database_path(args)
    if not path.is_file():
        raise StartupError(f"database {path} does not exist")
    return path


class TerminalProgress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal and the file is large."""

    def __init__(self, size: int, stream: TextIO | None = None, min_bytes: int = PROGRESS_MIN_BYTES) -> None:
        self.stream = stream or sys.stderr
        self.enabled = size >= min_bytes and self.stream.isatty()
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        bar = "#" * int(fraction * 30)
        unit = f"{done / 1e6:7.1f}/{total / 1e6:.1f} MB" if phase != "check" else f"{done}/{total} rows"
        self.stream.write(f"\r{phase:>5} [{bar:<30}] {fraction:4.0%} {unit}   ")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def add_retention_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        type=int,
        default=DEFAULTS["BACKUP_KEEP"],
        metavar="N",
        help=f"keep the newest N snapshots made by this tool (default {DEFAULTS['BACKUP_KEEP']}; 0 = all)",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=DEFAULTS["BACKUP_MAX_AGE_DAYS"],
        metavar="DAYS",
        help=f"delete our snapshots older than DAYS (default {DEFAULTS['BACKUP_MAX_AGE_DAYS']}; 0 = never); "
        "the newest verified snapshot is always kept",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backup", help="take a checked snapshot of the database (safe while serving)")
    add_database_options(parser)
    add_retention_options(parser)
    parser.set_defaults(run=run)


def fail(command: str, message: str) -> int:
    print(f"profile-registry {command}: error: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    path = existing_database(args)
    progress = TerminalProgress(path.stat().st_size)
    before = {s.name for s in backups.list_snapshots(path, backup_dir(args))}
    try:
        info = backups.create_backup(
            path, backup_dir(args), keep=args.keep, max_age_days=args.max_age, progress=progress
        )
    except backups.SnapshotError as exc:
        return fail("backup", str(exc))
    print(info.path)
    after = {s.name for s in backups.list_snapshots(path, backup_dir(args))}
    for name in sorted(before - after):
        print(f"pruned {name}", file=sys.stderr)
    return 0
