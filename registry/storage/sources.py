"""`--profile-registries` entries: parsing them (contract §3.2) and opening each as a registry source."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from registry.domain import gotypes
from registry.domain.errors import RegistryError, SlugError, StartupError, ValidationError
from registry.domain.model import (
    DecodeError,
    Registry,
    decode_profile,
    decode_registry,
    parse_registry_slug,
    validate_registry,
)
from registry.domain.yaml_json import DEFAULT_LIMITS, YAMLLimits, YAMLRefused, load_json_yaml
from registry.storage import sqlite_db as db
from registry.storage.interface import LoadedRegistry, QuarantinedRow, RegistryStore, StoreSnapshot
from registry.storage.postgres_db import PostgresTarget, is_postgres_dsn, redact
from registry.storage.postgres_db import target_from_dsn as postgres_target_from_dsn
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.row_loading import DEFAULT_MAX_ROW_BYTES
from registry.storage.sqlite_files import has_sqlite_header
from registry.storage.sqlite_store import SQLiteRegistryStore

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True)
class SourceSpec:
    """One parsed entry: its kind (`yaml`, `sqlite`, `sqlite-dsn`, `postgresql`) and the path or DSN."""

    kind: str
    location: str
    raw: str

    @property
    def shown(self) -> str:
        """The entry as messages may show it: a PostgreSQL DSN without its password."""
        return redact(self.raw.strip()) if self.kind == "postgresql" else self.raw


def split_entries(values: list[str]) -> list[str]:
    """Flag values as a repeatable, comma-separated list (CSV quoting allowed); entries trimmed, blanks dropped."""
    entries: list[str] = []
    for value in values:
        for row in csv.reader([value], skipinitialspace=True):
            entries.extend(item.strip() for item in row if item.strip())
    return entries


def parse_entry(entry: str) -> SourceSpec:
    """Classify one entry in the reference's order: prefixes, SQLite suffix, header sniffing, else YAML."""
    raw = entry
    entry = entry.strip()
    if is_postgres_dsn(entry):
        return SourceSpec("postgresql", entry, raw)
    for prefix, kind, empty in (
        ("yaml://", "yaml", "yaml profile registry source path is empty"),
        ("yaml:", "yaml", "yaml profile registry source path is empty"),
        ("sqlite-dsn:", "sqlite-dsn", "sqlite-dsn profile registry source is empty"),
        ("sqlite:", "sqlite", "sqlite profile registry source path is empty"),
    ):
        if entry.startswith(prefix):
            rest = entry[len(prefix) :].strip()
            if not rest:
                raise StartupError(empty)
            return SourceSpec(kind, rest, raw)
    if entry.lower().endswith(SQLITE_SUFFIXES):
        return SourceSpec("sqlite", entry, raw)
    path = Path(entry)
    if path.is_file():
        try:
            is_sqlite = has_sqlite_header(path)
        except OSError as exc:
            raise StartupError(f"cannot read profile registry source {entry}: {exc.strerror}") from exc
        if is_sqlite:
            return SourceSpec("sqlite", entry, raw)
    return SourceSpec("yaml", entry, raw)


def parse_entries(values: list[str]) -> list[SourceSpec]:
    """All entries of the flag, each failure wrapped with its 0-based index as the reference does."""
    specs = []
    for i, entry in enumerate(split_entries(values)):
        try:
            specs.append(parse_entry(entry))
        except StartupError as exc:
            raise StartupError(f"parse profile registry source {i}: {exc}") from exc
    return specs


class RegistrySource(Protocol):
    """Anything that yields snapshots of registries: a SQLite store or a YAML file."""

    label: str

    def snapshot(self) -> StoreSnapshot: ...

    def close(self) -> None: ...


class StoreSource:
    """A RegistryStore as a source: reads are fresh, and writable unless the store is read-only."""

    store: RegistryStore

    def __init__(self, store: RegistryStore, label: str) -> None:
        self.store = store
        self.label = label

    @property
    def location(self) -> str:
        """Where the rows live, for messages (a path, or a DSN without its password)."""
        raise NotImplementedError

    def snapshot(self) -> StoreSnapshot:
        return self.store.snapshot()

    def close(self) -> None:
        self.store.close()


class SQLiteSource(StoreSource):
    """A SQLite database file (the one kind that backups, restores and inspection act on in place)."""

    store: SQLiteRegistryStore

    @property
    def location(self) -> str:
        return str(self.store.target.path)


class PostgresSource(StoreSource):
    """A PostgreSQL database (registry/storage/postgres_store.py)."""

    store: PostgresRegistryStore

    @property
    def location(self) -> str:
        return self.store.target.location


class YAMLSource:
    """A YAML registry file, read once at start (the reference never re-reads it either)."""

    def __init__(self, snapshot: StoreSnapshot, label: str) -> None:
        self.label = label
        self._snapshot = snapshot

    @classmethod
    def loaded(cls, registry: Registry, label: str, size: int) -> YAMLSource:
        slug = registry["slug"]
        return cls(StoreSnapshot({slug: LoadedRegistry(slug, registry, 0, size)}, {}, 1), label)

    @classmethod
    def quarantined(cls, slug: str, reason: str, label: str, size: int) -> YAMLSource:
        """A file whose registry is kept out of service (served as a quarantined row: health, dashboard, 500s)."""
        return cls(StoreSnapshot({}, {slug: QuarantinedRow(slug, reason, 0, size)}, 1), label)

    def snapshot(self) -> StoreSnapshot:
        return self._snapshot

    def close(self) -> None:
        pass


class UnservableYAMLRegistry(StartupError):
    """A YAML registry kept out of service rather than stopping the start; `slug` names it when the file does."""

    def __init__(self, message: str, slug: str | None, reason: str) -> None:
        super().__init__(message)
        self.slug = slug
        self.reason = reason


class OversizedYAMLRegistry(UnservableYAMLRegistry):
    """A YAML registry that expands past REGISTRY_MAX_EXPANDED_BYTES."""


class UndecodableYAMLRegistry(UnservableYAMLRegistry):
    """A YAML registry holding a value the reference's Go types cannot (registry/domain/gotypes.py).

    Quarantined with the same reason and JSON pointer as a SQLite row with that value (row_loading.parse_row),
    so a registry is judged the same whichever kind of source holds it.
    """


def load_yaml_registry(text: str, label: str, limits: YAMLLimits = DEFAULT_LIMITS) -> Registry:
    """The reference's single-registry YAML format (contract §3.3) as a normalised, validated registry.

    Read with the bounded loader (registry/domain/yaml_json.py): only JSON values, limited depth and size.
    """
    try:
        document = load_json_yaml(text, limits)
    except YAMLRefused as exc:
        message = f"yaml profile registry source {label!r}: {exc}"
        if exc.too_large:
            raise OversizedYAMLRegistry(message, exc.slug, str(exc)) from exc
        raise StartupError(message) from exc
    if document is None:
        raise StartupError(f'yaml profile registry source "{label}" did not contain a registry')
    if not isinstance(document, dict):
        raise StartupError(f"yaml profile registry source {label!r}: expected a mapping at top level")
    if "registries" in document:
        raise StartupError(f"yaml profile registry source {label!r}: top-level 'registries' is not supported")
    if "default_profile_slug" in document:
        raise StartupError(
            f'yaml profile registry source {label!r} does not support default_profile_slug; use profile slug "default"'
        )
    if "slug" not in document:
        raise StartupError(
            f"yaml profile registry source {label!r}: missing top-level 'slug' (the legacy map-of-profiles "
            "format is not supported)"
        )
    try:
        # Before the slugs are filled in below: the check sees the document exactly as written.
        gotypes.check_registry(document)
    except gotypes.GoDecodeError as exc:
        slug = document.get("slug")
        raise UndecodableYAMLRegistry(
            f"yaml profile registry source {label!r}: {exc}", slug if isinstance(slug, str) else None, str(exc)
        ) from exc
    try:
        # YAML fills each profile's slug from its map key; JSON payloads must carry it.
        profiles = document.get("profiles") or {}
        if not isinstance(profiles, dict):
            raise DecodeError("registry.profiles: expected a mapping")
        for key, value in profiles.items():
            if isinstance(value, dict) and not value.get("slug"):
                value["slug"] = str(key)
        registry = decode_registry(document)
        for key, profile in list(registry["profiles"].items()):
            if profile is None:
                registry["profiles"][key] = decode_profile({"slug": key}, key)
        if registry["profiles"]:
            names = sorted(registry["profiles"])
            registry["default_profile_slug"] = "default" if "default" in names else names[0]
        validate_registry(registry)
    except (DecodeError, RegistryError) as exc:
        prefix = "engine profile YAML registry validation failed: " if isinstance(exc, ValidationError) else ""
        raise StartupError(f"yaml profile registry source {label!r}: {prefix}{exc}") from exc
    return registry


def sqlite_target(spec: SourceSpec) -> db.DatabaseTarget:
    """The database a `sqlite` or `sqlite-dsn` entry names, with every setting of its DSN."""
    return db.target_from_dsn(spec.location) if spec.kind == "sqlite-dsn" else db.target_from_path(spec.location)


def first_database_target(specs: list[SourceSpec]) -> db.DatabaseTarget | PostgresTarget | None:
    """The database that backups and restores act on: the first SQLite or PostgreSQL entry (None: YAML only)."""
    for spec in specs:
        if spec.kind == "postgresql":
            return postgres_target_from_dsn(spec.location)
        if spec.kind in ("sqlite", "sqlite-dsn"):
            return sqlite_target(spec)
    return None


def first_sqlite_target(specs: list[SourceSpec]) -> db.DatabaseTarget | None:
    """The database that backups, restores and inspection act on: the first SQLite entry (None: YAML only)."""
    return next((sqlite_target(spec) for spec in specs if spec.kind in ("sqlite", "sqlite-dsn")), None)


def open_source(
    spec: SourceSpec, yaml_limits: YAMLLimits = DEFAULT_LIMITS, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
) -> RegistrySource:
    """Open one source; any failure is a StartupError with a one-line reason.

    A YAML registry too large once its aliases are expanded, or holding a value the reference's types cannot, is
    quarantined instead (when its slug can be read), so the rest of the chain is served and no request can walk
    the expanded document.
    """
    if spec.kind == "yaml":
        path = Path(spec.location)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise StartupError(f"yaml profile registry source {spec.location!r}: file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(f"yaml profile registry source {spec.location!r}: {exc}") from exc
        size = len(text.encode())
        try:
            return YAMLSource.loaded(load_yaml_registry(text, spec.location, yaml_limits), spec.raw, size)
        except UnservableYAMLRegistry as exc:
            try:
                slug = parse_registry_slug(exc.slug or "")
            except SlugError:
                raise exc from None  # no name to quarantine it under: the start stops with the reason
            return YAMLSource.quarantined(slug, exc.reason, spec.raw, size)
    if spec.kind == "postgresql":
        # The label is shown by the API and health: never the password a DSN may hold.
        store = PostgresRegistryStore(postgres_target_from_dsn(spec.location), max_row_bytes)
        return PostgresSource(store.open(), spec.shown)
    return SQLiteSource(SQLiteRegistryStore(sqlite_target(spec), max_row_bytes).open(), spec.raw)
