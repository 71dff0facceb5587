"""`profile-registry restore SNAPSHOT`: check it, take a safety snapshot, copy it into the live database.

With `--registry SLUG` or `--profile REGISTRY/PROFILE` only those are restored, as one validated write (see
registry/service/partial_restore.py); `--expect SLUG=UPDATED_AT_MS` refuses it if the registry changed since.
"""

from __future__ import annotations

import argparse

from registry.cli.backup import (
    add_database_options,
    add_snapshot_argument,
    backup_dir,
    existing_database,
    fail,
    snapshot_path,
)
from registry.cli.import_export import actor_name, open_service
from registry.domain.errors import RegistryError, ValidationError
from registry.service.partial_restore import Selection, restore_partially
from registry.storage import backups


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="restore a snapshot into the database (works while `serve` runs; a safety snapshot is taken first)",
    )
    add_snapshot_argument(parser)
    parser.add_argument(
        "--registry", action="append", default=[], metavar="SLUG", help="restore only this registry (repeatable)"
    )
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="REGISTRY/PROFILE",
        help="restore only this profile; the rest of its registry stays as it is (repeatable)",
    )
    parser.add_argument(
        "--expect",
        action="append",
        default=[],
        type=expectation,
        metavar="SLUG=UPDATED_AT_MS",
        help="refuse (nothing restored) unless the live registry still has this updated_at_ms, as `diff` showed it; "
        "`SLUG=absent` for one that had no row",
    )
    add_database_options(parser)
    parser.set_defaults(run=run)


def expectation(value: str) -> tuple[str, int | None]:
    """`SLUG=UPDATED_AT_MS` or `SLUG=absent`, checked at parse time."""
    slug, sep, stamp = value.partition("=")
    if not sep or not slug:
        raise argparse.ArgumentTypeError(f"{value!r} is not SLUG=UPDATED_AT_MS")
    if stamp == "absent":
        return slug.strip().lower(), None
    if not stamp.isascii() or not stamp.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r}: UPDATED_AT_MS must be a whole number (or `absent`)")
    return slug.strip().lower(), int(stamp)


def run(args: argparse.Namespace) -> int:
    if args.registry or args.profile:
        return run_partial(args)
    target = existing_database(args)
    try:
        result = backups.restore_snapshot(
            target, snapshot_path(args.snapshot, target, backup_dir(args)), backup_dir(args)
        )
    except backups.SnapshotError as exc:
        return fail("restore", f"{exc}; nothing was changed")
    print(f"restored {target.location} from {result.snapshot.path}")
    print(f"safety snapshot of the previous state: {result.safety_snapshot.path}")
    for change in result.changes:
        # The comparison is by updated_at_ms only: a row edited with the sqlite3 shell keeps its stamp, so "same"
        # says what was compared (`profile-registry diff` compares the contents).
        relation = "same updated_at_ms" if change.change == "same" else change.change
        print(
            f"  {change.slug}: {relation} (live was {change.live_updated_at_ms}, "
            f"now {change.snapshot_updated_at_ms})"
        )
    return 0


def run_partial(args: argparse.Namespace) -> int:
    """Restore only the named registries and profiles, through the write path of a service opened here."""
    try:
        selection = Selection.parse(args.registry, args.profile)
    except ValidationError as exc:
        return fail("restore", str(exc))
    target = existing_database(args)
    service = open_service(args.profile_registries or ([args.db] if args.db else []))
    try:
        path = snapshot_path(args.snapshot, target, backup_dir(args))
        result = restore_partially(
            service, path, backup_dir(args), selection, expected=dict(args.expect) or None, actor=actor_name()
        )
    except RegistryError as exc:
        return fail("restore", str(exc) if "nothing was" in str(exc) else f"{exc}; nothing was restored")
    finally:
        service.chain.close()
    print(f"restored {selection.describe()} in {target.location} from {result.snapshot}")
    print(f"safety snapshot of the previous state: {result.safety_snapshot.path}")
    for item in result.registries:
        what = f" ({', '.join(item.profiles)})" if item.profiles else ""
        print(
            f"  {item.slug}: {item.change}{what} (live was {item.before_updated_at_ms}, now {item.after_updated_at_ms})"
        )
    return 0
