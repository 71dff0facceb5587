"""What the rest of the service needs from a registry store, whatever engine holds the rows.

`RegistryStore` is the one contract: the SQLite store (registry/storage/sqlite_store.py) follows it, and a second
engine (PostgreSQL) follows the same text. The contract tests (tests/test_storage_contract.py) hold every
implementation to it. The value types here are plain, immutable data: nothing in them refers to an engine.

One table of rows, each one registry: `slug` (the row's key as stored), `payload_json` (the registry document, the
reference's JSON shape) and `updated_at_ms` (when the row was last written, milliseconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from registry.domain.errors import RegistryError
from registry.domain.model import Registry

T = TypeVar("T")

# progress(phase, done, total): phases "copy", "check", "hash"; done/total in bytes or rows.
Progress = Callable[[str, int, int], None]


class StorageError(RegistryError):
    """The database could not be read or written; the message is the engine's reason.

    `kind` lets the web layer answer without knowing the engine: "full" (the disk or database is full, the write
    was not stored), "busy" (another writer held the database past the busy timeout; try again) or "other".
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


class SnapshotError(RegistryError):
    """A snapshot failed a check (or could not be made or restored); the message is the reason."""


class SnapshotUnavailable(SnapshotError):
    """The database a snapshot is taken of (or restored into) cannot be reached or is busy; nothing was done.

    The web layer answers 503 (try again later), not 422: the snapshot itself is not at fault.
    """


class SnapshotNotFound(SnapshotError):
    """No snapshot of that name exists in the backup folder (or the name is not a snapshot name)."""


@dataclass(frozen=True)
class LoadedRegistry:
    """A healthy row: the normalised registry and the row's bookkeeping."""

    slug: str
    registry: Registry
    updated_at_ms: int
    payload_size: int


@dataclass(frozen=True)
class QuarantinedRow:
    """A row that failed to decode or validate; kept out of service with the reason."""

    slug: str
    reason: str
    updated_at_ms: int
    payload_size: int


@dataclass(frozen=True)
class StoreSnapshot:
    """Everything one read of the table produced, sorted by slug. Never mutated after construction.

    `generation` is the token of this read: it changes whenever a later read finds different rows, and stays
    the same (with the very same object returned) while the rows are as they were, so callers may cache what
    they build from a snapshot under its generation.
    """

    registries: dict[str, LoadedRegistry] = field(default_factory=dict)
    quarantined: dict[str, QuarantinedRow] = field(default_factory=dict)
    generation: int = 0


@dataclass(frozen=True)
class RowWrite:
    """What one write transaction did: the registry before and after (None = absent), and its timestamp."""

    before: Registry | None
    after: Registry | None
    quarantine_reason: str | None
    updated_at_ms: int


@dataclass(frozen=True)
class CheckedDatabase:
    """The facts a successful check of a snapshot file produced: slug -> updated_at_ms, defaults, profile slugs."""

    registries: dict[str, int]
    defaults: dict[str, str]
    profiles: dict[str, list[str]]
    page_size: int
    # Found by a check that records rather than refuses (the copy a backup takes of the live database):
    # slug -> why the row is quarantined, and how the schema differs from the reference's.
    quarantined: dict[str, str] = field(default_factory=dict)
    schema_problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoreHealth:
    """Facts for /api/health and the dashboard: where the rows live and how the engine is set up.

    `settings` holds the engine's own facts by name (SQLite: journal_mode, busy_timeout_ms); a caller shows
    them as they are and never branches on them. `problem` is set while the engine cannot be used (a database
    server that went away, a table dropped under the service): the store then serves its last loaded rows and
    refuses writes; `problem_since_ms` says since when (milliseconds since the epoch).
    """

    location: str
    read_only: bool
    settings: dict[str, Any]
    problem: str | None = None
    problem_since_ms: int | None = None


class RowTransaction(Protocol):
    """One open write transaction on one registry's row, handed out by `RegistryStore.write`.

    `current` is the row as committed when the transaction started, decoded (None when there is no row or it is
    quarantined, then `quarantine_reason` says why). Until the transaction ends nobody else can commit a change to
    this row, so a version compared against `current` inside the block is the truth (optimistic concurrency: the
    caller checks `expected_version` against `current` and raises to refuse). `now_ms` is the write's timestamp,
    the same for every edit made in the block.
    """

    slug: str
    current: Registry | None
    quarantine_reason: str | None
    now_ms: int
    # The row's updated_at_ms as committed (None: no row): what a caller compares with a stamp it showed earlier.
    current_updated_at_ms: int | None

    def put(self, registry: Registry) -> None:
        """Replace (or create) the row with `registry`, stamped `now_ms`, when the block ends without an error."""
        ...

    def delete(self) -> None:
        """Remove the row (every stored slug that normalises to `slug`) when the block ends without an error."""
        ...

    def result(self) -> RowWrite:
        """What the transaction wrote (after the block: committed; inside it: what would be committed)."""
        ...


@runtime_checkable
class RegistryStore(Protocol):
    """A store of registry rows. Every method is safe to call from many threads at once.

    Reads never block on writes: `snapshot()` returns the rows as last committed. A commit through this store is
    seen by its next `snapshot()`; a commit by anyone else (another process, another connection, a restore) is seen
    by the next `snapshot()` once this process has been told of it, at most `max_staleness_s` later (SQLite: 0, the
    next call looks at the file; PostgreSQL: the NOTIFY's delivery, milliseconds, with a generation check as the
    bound should a notification be missed).
    A failure of the engine itself (disk full, database locked past the busy timeout) surfaces as StorageError
    with its `kind`, never as the driver's own exception type: the web layer maps it without knowing the engine.
    """

    read_only: bool
    max_staleness_s: float
    # The largest payload_json the store loads (a larger row is quarantined) and so the largest a write may make.
    max_row_bytes: int
    # True when `open()` created the database (it held nothing before): the caller may seed it.
    created: bool

    def open(self) -> RegistryStore:
        """Connect, create the table when the database is new, check the schema, load the rows; returns self.

        Raises StartupError with a one-line reason (missing folder, not a registry database, wrong columns...).
        A store whose database refuses writes opens read-only (`read_only` True) and refuses writes.
        """
        ...

    def close(self) -> None:
        """Release every connection; idempotent. Later reads raise RegistryError("... closed")."""
        ...

    # --- reading --------------------------------------------------------------------------------------------

    def snapshot(self) -> StoreSnapshot:
        """All rows with their generation token, as last committed (see StoreSnapshot).

        Rows that fail to decode or validate are in `quarantined` with the reason, never raised. Cheap when
        nothing changed since the calling thread last asked: the same object comes back.
        """
        ...

    def changed_since(self, generation: int) -> bool:
        """Whether the rows differ from those of the snapshot with `generation` (as cheap as an unchanged read)."""
        ...

    def health(self) -> StoreHealth:
        """Where the rows live and the engine's settings as the engine reports them (not as configured)."""
        ...

    # --- writing --------------------------------------------------------------------------------------------

    def write(self, slug: str, *, dry_run: bool = False) -> AbstractContextManager[RowTransaction]:
        """A write transaction on the row of `slug` (a normalised registry slug).

        Entering waits for the row (other writers of the same row queue up to the engine's busy timeout). Leaving
        the block normally commits what `put`/`delete` asked (nothing when neither was called, or with `dry_run`)
        and makes it durable before returning; an exception leaving the block rolls everything back and propagates
        unchanged. Readers see the old row until the commit and the new one on their next `snapshot()`: never a mix.
        Raises ReadOnlyStore when the store is read-only.
        """
        ...

    def write_many(
        self, slugs: list[str], *, dry_run: bool = False
    ) -> AbstractContextManager[Mapping[str, RowTransaction]]:
        """`write` over several rows in ONE transaction: the block gets a RowTransaction per slug, and leaving it
        commits every row's put/delete together, or (on an exception) none of them."""
        ...

    def put_payload(self, slug: str, payload_json: str, updated_at_ms: int | None = None) -> None:
        """Store one row exactly as given (no decoding or validation): seeding and tools that write raw rows."""
        ...

    # --- snapshots ------------------------------------------------------------------------------------------

    def backup_to(self, dest: Path, progress: Progress | None = None) -> None:
        """Write a consistent copy of every row to the existing, empty file `dest` while the store serves.

        The copy is one self-contained SQLite database file in the registry schema (whatever the engine), as
        of one committed state: writes committed during the copy are either wholly in it or not at all.
        """
        ...

    def restore_from(self, source: Path, before_copy: Callable[[], T]) -> T:
        """Replace every row with those of the checked snapshot file `source`, in one atomic step.

        `before_copy` runs first while this process's writers of this store are held back (it takes the safety
        snapshot), so no write of this process falls between it and the copy; its result is returned. Readers
        see the old rows or the restored ones, never a mix. A failed copy changes nothing (SnapshotError).
        """
        ...
