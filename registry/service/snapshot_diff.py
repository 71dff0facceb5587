"""What a snapshot would change: the diff of a snapshot against the live database, or between two snapshots.

The command line, the API and the dashboard's restore confirmation all call `diff_snapshot`, so they show the
same thing. Both sides are read as they are now (the live side through a read-only connection, or one
repeatable-read transaction on PostgreSQL; a snapshot opened immutable); the comparison itself is
registry.domain.diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.domain.diff import RegistryDiff, RegistryState, diff_registries
from registry.storage.backups import Database, LiveDatabase, live_database
from registry.storage.interface import StoreSnapshot
from registry.storage.sqlite_store import read_snapshot_file


@dataclass(frozen=True)
class DiffSide:
    """One side of a diff: the live database (`name` is its path, or a PostgreSQL DSN without its password) or a
    snapshot (`name` is the snapshot's name)."""

    kind: str  # "live" | "snapshot"
    name: str
    path: Path | str  # a PostgreSQL database's location is no file path
    # The live database with every setting it is served with; None for a snapshot file.
    target: LiveDatabase | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "path": str(self.path)}

    @property
    def label(self) -> str:
        return f"live {self.path}" if self.kind == "live" else f"snapshot {self.name}"


@dataclass(frozen=True)
class SnapshotDiff:
    """Every registry on either side with what differs from `before` to `after`."""

    before: DiffSide
    after: DiffSide
    registries: list[RegistryDiff]

    @property
    def changed(self) -> list[RegistryDiff]:
        """The registries that differ (everything but `same`)."""
        return [r for r in self.registries if r.change != "same"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "registries": [r.to_dict() for r in self.registries],
        }


def live_side(target: Database) -> DiffSide:
    """The live database as a side of a diff."""
    database = live_database(target)
    return DiffSide("live", database.location, database.location, database)


def snapshot_side(snapshot_path: Path) -> DiffSide:
    """A snapshot file as a side of a diff."""
    return DiffSide("snapshot", Path(snapshot_path).name, Path(snapshot_path))


def registry_states(snapshot: StoreSnapshot) -> dict[str, RegistryState]:
    """A read of the rows as the diff's input: healthy registries, and quarantined rows with their reason."""
    states = {slug: RegistryState(r.registry, r.updated_at_ms) for slug, r in snapshot.registries.items()}
    states.update({slug: RegistryState(None, q.updated_at_ms, q.reason) for slug, q in snapshot.quarantined.items()})
    return states


def read_side(side: DiffSide) -> dict[str, RegistryState]:
    """The side's registries as stored now; SnapshotError when the file is not a registry database."""
    rows = read_snapshot_file(Path(side.path)) if side.target is None else side.target.read_rows()
    return registry_states(rows)


def diff_snapshot(before: DiffSide, after: DiffSide) -> SnapshotDiff:
    """What differs from `before` to `after` (for a restore: before = live, after = the snapshot)."""
    return SnapshotDiff(before, after, diff_registries(read_side(before), read_side(after)))
