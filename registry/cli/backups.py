"""`profile-registry backups`: list snapshots with their time, age, size, registries and verification."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from registry.cli.backup import add_database_options, backup_dir, database_target
from registry.storage import backups


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("backups", help="list snapshots, newest first")
    add_database_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def age(created: datetime, now: datetime) -> str:
    """A short human age: 45s, 12m, 3h, 2d."""
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run(args: argparse.Namespace) -> int:
    target = backups.live_database(database_target(args))
    try:
        folder = backups.backup_folder(target, backup_dir(args))
    except backups.NoBackupFolder as exc:
        print(f"profile-registry backups: error: {exc}", file=sys.stderr)
        return 2
    snapshots = backups.list_snapshots(target, backup_dir(args))
    if args.json:
        print(json.dumps([s.to_dict() for s in snapshots], indent=2))
        return 0
    if not snapshots:
        print(f"no snapshots of {target.location} in {folder}")
        return 0
    now = datetime.now(UTC)
    rows = [("NAME", "CREATED (UTC)", "AGE", "SIZE", "REGISTRIES", "NEWEST_UPDATED_AT_MS", "VERIFIED")]
    for s in snapshots:
        rows.append(
            (
                s.name,
                s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                age(s.created_at, now),
                str(s.size),
                ",".join(sorted(s.registries)) or "-",
                str(s.newest_updated_at_ms) if s.newest_updated_at_ms is not None else "-",
                verified_cell(s),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def verified_cell(snapshot: backups.SnapshotInfo) -> str:
    """The VERIFIED column; a runbook `cp` copy says it can still be restored (the restore checks the file first)."""
    if snapshot.verified and snapshot.quarantined:
        return f"yes; quarantined rows kept as they were ({snapshot.quarantined_text()}): a whole restore refuses it"
    if snapshot.verified:
        return "yes"
    if snapshot.restorable:
        return "no manifest (a copy); restorable: restore checks the file first"
    return f"no: {snapshot.problem}"
