"""`profile-registry copy SOURCE DEST`: every registry row from one store to another (SQLite <-> PostgreSQL).

Rows move exactly as stored (slug, payload_json, updated_at_ms; a quarantined row too), through the two store
operations every engine has: the source writes a consistent snapshot file (`backup_to`, one committed state), and
the destination takes it in one transaction (`restore_from`): a copy that fails leaves the destination as it was.
A destination that already holds rows is refused unless `--replace`, which first saves those rows as a safety
snapshot (the backup format, in the destination's backup folder: beside a SQLite file, `--backup-dir` for
PostgreSQL), taken while the destination's writers are held back, so every row the copy replaces is in it.
`--dry-run` says what would happen.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from registry.domain.errors import StartupError
from registry.host_os import create_owner_only_file
from registry.storage import backups
from registry.storage.interface import RegistryStore, SnapshotError
from registry.storage.sources import SourceSpec, StoreSource, open_source, parse_entry
from registry.storage.sqlite_store import read_snapshot_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "copy", help="copy every registry from one database to another (SQLite or postgresql://, either way)"
    )
    parser.add_argument("source", metavar="SOURCE", help="a SQLite path, sqlite-dsn:..., or postgresql://...")
    parser.add_argument("dest", metavar="DEST", help="the database to fill (created when missing)")
    parser.add_argument("--dry-run", action="store_true", help="read both and say what would be copied; write nothing")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace every row of a destination that holds rows (saved first as a safety snapshot)",
    )
    parser.add_argument(
        "--backup-dir",
        metavar="DIR",
        help="where --replace keeps the safety snapshot (default: beside a SQLite destination; required for a "
        "PostgreSQL one)",
    )
    parser.set_defaults(run=run)


def database_spec(entry: str, role: str) -> SourceSpec:
    spec = parse_entry(entry)
    if spec.kind == "yaml":
        raise StartupError(f"{role} {entry!r} is not a database (a YAML registry goes in with `import`)")
    if role == "source" and spec.kind in ("sqlite", "sqlite-dsn"):
        path = Path(spec.location.split("?", 1)[0].removeprefix("file:"))
        if not path.is_file():
            raise StartupError(f"source database {path} does not exist")
    return spec


def open_store(spec: SourceSpec) -> RegistryStore:
    source = open_source(spec)
    assert isinstance(source, StoreSource)
    return source.store


def run(args: argparse.Namespace) -> int:
    source_spec = database_spec(args.source, "source")
    dest_spec = database_spec(args.dest, "destination")
    source = open_store(source_spec)
    try:
        dest = open_store(dest_spec)
    except BaseException:
        source.close()
        raise
    try:
        with snapshot_file(source, source_spec) as snapshot:
            slugs = rows_of(snapshot)
            present = dest.snapshot()
            held = len(present.registries) + len(present.quarantined)
            names = ", ".join(slugs) if slugs else "none"
            if held and not args.replace:
                raise StartupError(
                    f"destination {dest_spec.shown} already holds {held} registries; pass --replace to replace them all"
                )
            database = backups.live_database(dest)
            folder = safety_folder(database, args) if held else None
            if args.dry_run:
                what = f"replacing its {held} registries (safety snapshot in {folder})" if held else "which is empty"
                print(f"would copy {len(slugs)} registries ({names}) from {source_spec.shown} to {dest_spec.shown}, "
                      f"{what}")
                return 0

            def safety_snapshot() -> backups.SnapshotInfo | None:
                # Runs inside the destination's write step, its writers held back: nothing committed to the
                # destination can fall between this snapshot and the copy (lost from both).
                if folder is None:
                    return None
                return backups.create_backup(database, folder, reason=f"before copy --replace from {source_spec.shown}")

            try:
                safety = dest.restore_from(snapshot, safety_snapshot)
            except SnapshotError as exc:
                raise StartupError(f"copy into {dest_spec.shown} failed, nothing was changed: {exc}") from exc
        print(f"copied {len(slugs)} registries ({names}) from {source_spec.shown} to {dest_spec.shown}")
        if safety is not None:
            print(f"safety snapshot of the previous state: {safety.path}")
        return 0
    finally:
        source.close()
        dest.close()


def safety_folder(database: backups.LiveDatabase, args: argparse.Namespace) -> Path:
    """Where --replace keeps the destination's rows; a PostgreSQL destination without --backup-dir is refused here,
    before anything is written."""
    try:
        return backups.backup_folder(database, Path(args.backup_dir) if args.backup_dir else None)
    except backups.NoBackupFolder as exc:
        raise StartupError(f"--replace keeps a safety snapshot of the destination first: {exc}") from exc


@contextmanager
def snapshot_file(store: RegistryStore, spec: SourceSpec) -> Iterator[Path]:
    """The store's rows as one committed state, in a private temporary SQLite snapshot file removed afterwards."""
    folder = tempfile.mkdtemp(prefix="profile-registry-copy-")
    snapshot = Path(folder) / "copy.db"
    try:
        # Owner-only, like every snapshot: it holds the prompts.
        create_owner_only_file(snapshot)
        try:
            store.backup_to(snapshot)
        except SnapshotError as exc:
            raise StartupError(f"cannot read {spec.shown}: {exc}") from exc
        yield snapshot
    finally:
        snapshot.unlink(missing_ok=True)
        os.rmdir(folder)


def rows_of(snapshot: Path) -> list[str]:
    """The slugs in a snapshot file (quarantined rows too), sorted."""
    try:
        rows = read_snapshot_file(snapshot)
    except SnapshotError as exc:
        raise StartupError(f"the copied rows cannot be read: {exc}") from exc
    return sorted({*rows.registries, *rows.quarantined})
