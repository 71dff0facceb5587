"""What each dashboard page shows, assembled from the service without Flask: rows, snapshot table, health strip."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.domain.edits import version_of
from registry.domain.errors import RegistryError
from registry.domain.model import Profile, Registry, model_info_of
from registry.domain.resolve import resolve_profile
from registry.host_os import permissions_are_mode_bits
from registry.service.chain import ChainView
from registry.service.registry_service import RegistryService, permission_warnings
from registry.storage.backups import LiveDatabase, NoBackupFolder, backup_folder, live_database
from registry.storage.sources import StoreSource

# Where the README tells Windows operators how to restrict the data folder (chmod cannot).
WINDOWS_ACL_HINT = 'README.md, section "Windows: restrict the data folder with an ACL"'


@dataclass(frozen=True)
class RegistryRow:
    """One healthy registry on the overview."""

    slug: str
    display_name: str
    default_profile: str
    profile_count: int
    updated_at_ms: int
    source: str


@dataclass(frozen=True)
class ProfileRow:
    """One profile on a registry page."""

    slug: str
    display_name: str
    is_default: bool
    version: int  # 0 for a profile no write has versioned yet (seeded or YAML-born): what expected_version must be
    model: str
    model_inherited: bool  # the model comes from a profile lower in the stack
    stack: list[str]
    extension_keys: list[str]


@dataclass(frozen=True)
class BackupTarget:
    """The database the dashboard backs up (the first SQLite or PostgreSQL source) and the folder of its snapshots."""

    source: StoreSource
    backup_dir: Path

    @property
    def database(self) -> LiveDatabase:
        """The open store with every setting it is served with: backups and restores connect the same way."""
        return live_database(self.source.store)

    @property
    def db_path(self) -> str:
        """The database as the page shows it: a path, or a PostgreSQL DSN without its password."""
        return self.database.location

    def live_profiles(self) -> dict[str, list[str]]:
        """Profile slugs of each healthy registry in this database."""
        return {slug: sorted(r.registry["profiles"]) for slug, r in self.source.snapshot().registries.items()}

    def live_newest_ms(self) -> int:
        """The newest updated_at_ms among this database's rows, healthy or quarantined (0 when empty)."""
        snap = self.source.snapshot()
        stamps = [r.updated_at_ms for r in snap.registries.values()] + [
            q.updated_at_ms for q in snap.quarantined.values()
        ]
        return max(stamps, default=0)


@dataclass(frozen=True)
class SnapshotRow:
    """One snapshot on the overview with how it compares to the live data."""

    info: Any  # registry.storage.backups.SnapshotInfo
    relation: str  # "older", "newer", "same" or "" when the snapshot could not be read
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HealthStrip:
    """The health line: status, database settings, catalog sizes and everything an operator should fix."""

    status: str
    database: str
    journal_mode: str
    busy_timeout_ms: int
    middlewares: int
    extensions: int
    problems: list[str]
    permission_warnings: list[str]
    windows_hint: str


def registry_rows(view: ChainView) -> list[RegistryRow]:
    """Every healthy registry, sorted by slug."""
    return [
        RegistryRow(
            slug=slug,
            display_name=loaded.registry.get("display_name") or "",
            default_profile=loaded.registry.get("default_profile_slug") or "",
            profile_count=len(loaded.registry["profiles"]),
            updated_at_ms=loaded.updated_at_ms,
            source=view.source_of.get(slug, ""),
        )
        for slug, loaded in view.registries.items()
    ]


def model_label(profile: Profile) -> str:
    """The model a profile names: model_info id or name, else the chat engine (snake_case or Go's PascalCase)."""
    info = model_info_of(profile)
    if info:
        label = info.get("id") or info.get("name")
        if label:
            return str(label)
    settings = profile.get("inference_settings")
    if isinstance(settings, dict):
        chat = settings.get("chat", settings.get("Chat"))
        if isinstance(chat, dict):
            engine = chat.get("engine", chat.get("Engine"))
            if engine:
                return str(engine)
    return ""


def stack_labels(registry_slug: str, profile: Profile) -> list[str]:
    """Stack references as `registry/profile`; an empty registry_slug means the profile's own registry."""
    return [f"{ref.get('registry_slug') or registry_slug}/{ref['profile_slug']}" for ref in profile.get("stack") or []]


def profile_rows(view: ChainView, registry_slug: str, registry: Registry) -> list[ProfileRow]:
    """A registry's profiles, sorted by slug; a profile naming no model shows the one its stack resolves to."""
    default = registry.get("default_profile_slug")
    rows = []
    for slug in sorted(registry["profiles"]):
        profile = registry["profiles"][slug]
        model = model_label(profile)
        inherited = False
        if not model and profile.get("stack"):
            try:
                model = model_label({"inference_settings": resolve_profile(view, registry_slug, slug).settings})
                inherited = bool(model)
            except RegistryError:
                pass  # the profile page shows why the stack does not resolve
        rows.append(
            ProfileRow(
                slug=slug,
                display_name=profile.get("display_name") or "",
                is_default=slug == default,
                version=version_of(profile),
                model=model,
                model_inherited=inherited,
                stack=stack_labels(registry_slug, profile),
                extension_keys=sorted(profile.get("extensions") or {}),
            )
        )
    return rows


def backup_target(service: RegistryService, backup_dir: str | None) -> BackupTarget | None:
    """The database the service backs up and its snapshot folder (BACKUP_DIR or the database's); None without one
    (no database source, or PostgreSQL without BACKUP_DIR: `no_backup_reason` says which)."""
    source = service.backup_source()
    if source is None:
        return None
    try:
        return BackupTarget(source, backup_folder(source.store, Path(backup_dir) if backup_dir else None))
    except NoBackupFolder:
        return None


def no_backup_reason(service: RegistryService, backup_dir: str | None) -> str:
    """Why there is nothing to back up, for the page (when backup_target is None)."""
    source = service.backup_source()
    if source is None:
        return "No SQLite or PostgreSQL database is configured, so there is nothing to back up."
    try:
        backup_folder(source.store, Path(backup_dir) if backup_dir else None)
    except NoBackupFolder as exc:
        return f"No backup folder: {exc}."
    return ""


def relation_to_live(snapshot_newest_ms: int | None, live_newest_ms: int) -> str:
    """Whether a snapshot's newest row is older than, newer than or the same as the live data's newest row."""
    if snapshot_newest_ms is None:
        return ""
    if snapshot_newest_ms < live_newest_ms:
        return "older"
    if snapshot_newest_ms > live_newest_ms:
        return "newer"
    return "same"


def snapshot_rows(snapshots: list[Any], live_newest_ms: int) -> list[SnapshotRow]:
    """Snapshots (newest first, as listed) with their relation to the live data and their file-mode warnings."""
    rows = []
    for info in snapshots:
        newest = None if info.problem else info.newest_updated_at_ms
        rows.append(SnapshotRow(info, relation_to_live(newest, live_newest_ms), permission_warnings(Path(info.path))))
    return rows


def health_strip(health: dict[str, Any]) -> HealthStrip:
    """The overview's health strip from RegistryService.health(); on Windows a pointer to the README's ACL advice."""
    warnings = [w for database in health.get("databases", []) for w in database.get("permission_warnings", [])]
    problems = list(health.get("problems", []))
    problems.extend(f"registry {q['slug']} is quarantined: {q['reason']}" for q in health.get("quarantined", []))
    catalogs = health.get("catalogs", {})
    return HealthStrip(
        status=health.get("status", ""),
        database=health.get("database", ""),
        journal_mode=health.get("journal_mode", ""),
        busy_timeout_ms=int(health.get("busy_timeout_ms", 0)),
        middlewares=int(catalogs.get("middlewares", 0)),
        extensions=int(catalogs.get("extensions", 0)),
        problems=problems,
        permission_warnings=warnings,
        # POSIX mode bits are checked above; Windows has ACLs that Python cannot read portably, so point at the docs.
        windows_hint="" if permissions_are_mode_bits() else WINDOWS_ACL_HINT,
    )


# --- schemas page -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaProperty:
    """One property of a JSON Schema, flattened to a dotted path for a table."""

    path: str
    type: str
    default: str
    required: bool
    description: str


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), dict) and schema["items"].get("type"):
        return f"array of {schema['items']['type']}"
    if not kind and "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    return str(kind or "any")


def schema_properties(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[SchemaProperty]:
    """Every property of an object schema, nested ones as `a.b`, map values (`additionalProperties`) as `a.<name>`."""
    if depth > 8:  # a self-referencing schema must not hang the page
        return []
    rows: list[SchemaProperty] = []
    required = set(schema.get("required") or [])
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        path = f"{prefix}{name}"
        default = pretty_default(sub["default"]) if "default" in sub else ""
        rows.append(SchemaProperty(path, _type_of(sub), default, name in required, str(sub.get("description", ""))))
        rows.extend(schema_properties(sub, path + ".", depth + 1))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        path = f"{prefix}<name>"
        rows.append(SchemaProperty(path, _type_of(extra), "", False, str(extra.get("description", ""))))
        rows.extend(schema_properties(extra, path + ".", depth + 1))
    return rows


def pretty_default(value: Any) -> str:
    """A default as JSON text (`true`, `"financial_analyst"`, `[]`)."""
    return json.dumps(value, ensure_ascii=False)


# --- restore confirmation ----------------------------------------------------------------------------------------

# What a restore does to a registry, by backups.compare's verdict (seen from the live side).
CHANGE_TEXT = {
    "added": "comes back from the snapshot",
    "removed": "removed: the snapshot does not hold it",
    "older": "goes back to the snapshot's older row",
    "newer": "takes the snapshot's newer row",
    "same": "same updated_at_ms",
}


@dataclass(frozen=True)
class RestoreRow:
    """One registry on the restore confirmation page: its timestamps, the verdict and the profiles that change."""

    change: Any  # registry.storage.backups.RegistryChange
    text: str
    profiles_back: list[str]  # in the snapshot but not live: a restore brings them back
    profiles_gone: list[str]  # live but not in the snapshot: a restore removes them


def restore_rows(
    changes: list[Any], live_profiles: dict[str, list[str]], snapshot_profiles: dict[str, list[str]] | None
) -> list[RestoreRow]:
    """The confirmation table; profile differences only where both sides are known (a manifest lists profiles)."""
    rows = []
    for change in changes:
        live = live_profiles.get(change.slug)  # None: absent live, or quarantined (profiles unknown)
        snap = (snapshot_profiles or {}).get(change.slug)  # None: absent, or the manifest does not list profiles
        back: list[str] = []
        gone: list[str] = []
        if change.change == "removed":
            gone = sorted(live or [])
        elif change.change == "added":
            back = sorted(snap or [])
        elif live is not None and snap is not None:
            back = sorted(set(snap) - set(live))
            gone = sorted(set(live) - set(snap))
        rows.append(RestoreRow(change, CHANGE_TEXT.get(change.change, change.change), back, gone))
    return rows
