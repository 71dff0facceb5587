"""`profile-registry inspect`: slug, updated_at_ms and size of every row; for a bad row the error and where it is."""

from __future__ import annotations

import argparse
import json
import textwrap

from registry.cli.backup import add_database_options, fail, sqlite_database
from registry.cli.copy import open_store, snapshot_file
from registry.storage.interface import StorageError
from registry.storage.row_inspection import RowReport, inspect_database
from registry.storage.sources import first_sqlite_target, parse_entries
from registry.storage.sqlite_db import target_from_path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help="list rows and show where a bad payload_json breaks")
    add_database_options(parser)
    parser.add_argument("--slug", help="only this row (the slug as stored)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    postgres = None if args.db else next(
        (spec for spec in parse_entries(args.profile_registries) if spec.kind == "postgresql"), None
    )
    if postgres is not None and first_sqlite_target(parse_entries(args.profile_registries)) is None:
        # PostgreSQL: inspect a snapshot of its rows (one committed state), every row exactly as stored.
        store = open_store(postgres)
        try:
            with snapshot_file(store, postgres) as snapshot:
                return report(args, inspect_database(target_from_path(snapshot), args.slug), postgres.shown)
        finally:
            store.close()
    target = sqlite_database(args)
    try:
        reports = inspect_database(target, args.slug)
    except StorageError as exc:
        return fail("inspect", f"cannot read {target.path}: {exc}")
    return report(args, reports, str(target.path))


def report(args: argparse.Namespace, reports: list[RowReport], path: str) -> int:
    """Print the rows (a table, or JSON with --json); 1 when a row is bad (or --slug matched none)."""
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2))
        return 0 if all(r.ok for r in reports) else 1
    if not reports:
        print(f"no rows{' for slug ' + repr(args.slug) if args.slug else ''} in {path}")
        return 1 if args.slug else 0
    width = max(len("SLUG"), *(len(r.slug) for r in reports))
    print(f"{'SLUG':<{width}}  {'UPDATED_AT_MS':>13}  {'SIZE':>8}  STATUS")
    for r in reports:
        print(f"{r.slug:<{width}}  {r.updated_at_ms:>13}  {r.size:>8}  {'ok' if r.ok else 'BAD: ' + str(r.error)}")
        if r.location is not None:
            where = f" ({r.location.path})" if r.location.path else ""
            print(f"{'':<{width}}  at line {r.location.line}, column {r.location.column}{where}:")
            print(textwrap.indent(r.location.excerpt, " " * (width + 4)))
    bad = [r.slug for r in reports if not r.ok]
    if bad:
        print(f"{len(bad)} bad row(s): {', '.join(bad)}; the service serves the others and answers 500 for these")
    return 1 if bad else 0
