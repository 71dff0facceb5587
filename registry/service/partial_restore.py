"""Restore one registry, or some profiles, from a snapshot into the live database while it serves.

The order is the safe one: the snapshot is checked, the live data is saved as a safety snapshot, then ONE write
transaction replaces only the selected rows. Inside it each selected registry must still be as the operator saw it
(`expected` updated_at_ms, from the diff) and as the safety snapshot holds it, else nothing is written (409): an
edit made meanwhile is never overwritten, and every row that changes is in the safety snapshot. The result is
validated like any write, including the chain-wide stack check, so a restore that would leave another registry's
stack pointing at nothing is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.domain import edits
from registry.domain.errors import SlugError, ValidationError
from registry.domain.model import Registry, parse_profile_slug, parse_registry_slug, validate_registry
from registry.domain.partial_restore import (
    RestoreConflict,
    RestoreRefused,
    broken_references,
    registry_content,
    restore_profiles,
    restore_registry,
)
from registry.service.registry_service import RegistryService
from registry.storage import backups
from registry.storage.backups import SnapshotInfo
from registry.storage.sqlite_store import read_snapshot_file


@dataclass(frozen=True)
class Selection:
    """What to restore: whole registries, and single profiles as (registry, profile)."""

    registries: tuple[str, ...] = ()
    profiles: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, registries: Iterable[str], profiles: Iterable[str]) -> Selection:
        """From `--registry SLUG` and `--profile REGISTRY/PROFILE` values; ValidationError names a bad one."""
        regs = []
        for raw in registries:
            try:
                regs.append(parse_registry_slug(raw))
            except SlugError as exc:
                raise ValidationError("registry", str(exc)) from exc
        profs = []
        for raw in profiles:
            registry, sep, profile = raw.partition("/")
            if not sep:
                raise ValidationError("profile", f"{raw!r} is not REGISTRY/PROFILE")
            try:
                profs.append((parse_registry_slug(registry), parse_profile_slug(profile)))
            except SlugError as exc:
                raise ValidationError("profile", str(exc)) from exc
        return cls(tuple(dict.fromkeys(regs)), tuple(dict.fromkeys(profs)))

    def __bool__(self) -> bool:
        return bool(self.registries or self.profiles)

    def slugs(self) -> list[str]:
        """Every registry a row of which may change, sorted."""
        return sorted(set(self.registries) | {r for r, _ in self.profiles})

    def describe(self) -> str:
        parts = [f"registry {r}" for r in self.registries]
        parts += [f"profile {r}/{p}" for r, p in self.profiles if r not in self.registries]
        return ", ".join(parts)


@dataclass(frozen=True)
class RestoredRegistry:
    """What happened to one registry's row: `replaced`, `created`, `removed`, `profiles` (some restored) or
    `unchanged` (the snapshot holds the same content)."""

    slug: str
    change: str
    before_updated_at_ms: int | None
    after_updated_at_ms: int | None
    profiles: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "change": self.change,
            "before_updated_at_ms": self.before_updated_at_ms,
            "after_updated_at_ms": self.after_updated_at_ms,
            "profiles": list(self.profiles),
        }


@dataclass(frozen=True)
class PartialRestoreResult:
    """The snapshot restored from, the safety snapshot taken first, and each selected registry's outcome."""

    snapshot: Path
    safety_snapshot: SnapshotInfo
    registries: list[RestoredRegistry]


def restore_partially(
    service: RegistryService,
    snapshot_path: Path,
    backup_dir: Path | None,
    selection: Selection,
    *,
    expected: dict[str, int | None] | None = None,
    actor: str,
) -> PartialRestoreResult:
    """Restore the selection from the snapshot into the service's backup database (see the module docstring).

    `expected` maps a registry slug to the updated_at_ms the operator saw (None: absent); a registry left out is
    checked against the safety snapshot only.
    """
    if not selection:
        raise RestoreRefused("nothing selected: name at least one registry or REGISTRY/PROFILE")
    source = service.backup_source()
    if source is None:
        raise RestoreRefused("no database source to restore into (only YAML sources are configured)")
    store = source.store
    database = backups.live_database(store)
    backups.backup_folder(database, backup_dir)  # PostgreSQL without a backup folder: refused before anything
    backups.verify_snapshot(snapshot_path)
    snapshot = {slug: r.registry for slug, r in read_snapshot_file(snapshot_path).registries.items()}
    view = service.chain.view()
    for slug in selection.slugs():
        label = view.source_of.get(slug)
        if label is not None and label != source.label:
            raise RestoreRefused(f'registry "{slug}" is served from {label}, not from {database.location}')
    # The live rows as committed now, read from the database itself: a PostgreSQL store's loaded rows may lag a
    # commit by another instance by the NOTIFY's delivery, and a registry created there must not be refused here.
    live_slugs = {_normalised(slug) for slug in database.row_stamps()}
    for slug in selection.registries:
        if slug not in snapshot and slug not in live_slugs:
            raise RestoreRefused(f'registry "{slug}" is in neither the snapshot nor the live data')
    safety = backups.create_backup(
        database, backup_dir, reason=f"before restore of {selection.describe()} from {snapshot_path.name}"
    )
    outcomes = []
    with store.write_many(selection.slugs()) as rows:
        for slug, tx in rows.items():
            if expected is not None and slug in expected and expected[slug] != tx.current_updated_at_ms:
                raise RestoreConflict(
                    slug, expected[slug], tx.current_updated_at_ms, "changed since the diff was shown"
                )
            if safety.registries.get(slug) != tx.current_updated_at_ms:
                raise RestoreConflict(
                    slug,
                    safety.registries.get(slug),
                    tx.current_updated_at_ms,
                    "changed while the safety snapshot was taken",
                )
        # Holding the write transaction, nobody else can commit to this database: this view is the truth.
        view = service.chain.view()
        before_all: dict[str, Registry] = {s: loaded.registry for s, loaded in view.registries.items()}
        after_all = dict(before_all)
        for slug, tx in rows.items():
            whole = slug in selection.registries
            if tx.quarantine_reason is not None and not whole:
                raise RestoreRefused(
                    f'registry "{slug}" is quarantined live ({tx.quarantine_reason}); restore the whole registry'
                )
            if tx.current is None and not whole:
                raise RestoreRefused(f'registry "{slug}" does not exist live; restore the whole registry')
            if whole:
                after = restore_registry(tx.current, snapshot.get(slug), actor=actor, now_ms=tx.now_ms)
                restored: list[str] = []
            else:
                restored = [p for r, p in selection.profiles if r == slug]
                assert tx.current is not None
                after = restore_profiles(tx.current, snapshot.get(slug), restored, actor=actor, now_ms=tx.now_ms)
            if after is not None and tx.current is not None and registry_content(after) == registry_content(tx.current):
                outcomes.append(RestoredRegistry(slug, "unchanged", tx.current_updated_at_ms, tx.current_updated_at_ms))
                continue
            if after is None:
                after_all.pop(slug, None)
                tx.delete()
                change = "removed"
            else:
                try:
                    validate_registry(after)
                except ValidationError as exc:
                    raise RestoreRefused(f'restoring registry "{slug}" would leave it invalid: {exc}') from exc
                after_all[slug] = after
                tx.put(after)
                change = "profiles" if not whole else ("created" if tx.current is None else "replaced")
            outcomes.append(
                RestoredRegistry(slug, change, tx.current_updated_at_ms, None if after is None else tx.now_ms, restored)
            )
        changed = [o.slug for o in outcomes if o.change != "unchanged"]
        for slug in changed:
            try:
                edits.check_chain_topology(before_all, after_all, slug)
            except ValidationError as exc:
                broken = broken_references(after_all, set(changed))
                detail = "; ".join(broken) if broken else str(exc)
                raise RestoreRefused(
                    f"refused: restoring {selection.describe()} would break a stack reference: {detail}; "
                    "nothing was restored"
                ) from exc
    return PartialRestoreResult(snapshot_path, safety, outcomes)


def _normalised(slug: str) -> str:
    """A stored slug as the service names its registry (a row stored as " Team " is registry "team")."""
    try:
        return parse_registry_slug(slug)
    except SlugError:
        return slug
