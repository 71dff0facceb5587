"""`profile-registry restore SNAPSHOT`: check it, take a safety snapshot, copy it into the live database."""

from __future__ import annotations

import argparse

from registry.cli.backup import add_database_options, backup_dir, existing_database, fail, snapshot_path
from registry.storage import backups


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="restore a snapshot into the database (works while `serve` runs; a safety snapshot is taken first)",
    )
    parser.add_argument(
        "snapshot", help="a snapshot name from `profile-registry backups`, or a path to a snapshot file"
    )
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = existing_database(args)
    try:
        result = backups.restore_snapshot(
            target, snapshot_path(args.snapshot, target, backup_dir(args)), backup_dir(args)
        )
    except backups.SnapshotError as exc:
        return fail("restore", f"{exc}; nothing was changed")
    print(f"restored {target.path} from {result.snapshot.path}")
    print(f"safety snapshot of the previous state: {result.safety_snapshot.path}")
    for change in result.changes:
        print(
            f"  {change.slug}: {change.change} (live was {change.live_updated_at_ms}, "
            f"now {change.snapshot_updated_at_ms})"
        )
    return 0
