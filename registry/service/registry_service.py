"""The running registry service: sources opened from settings, the chain, the catalogs and the health report."""

from __future__ import annotations

import logging
import stat
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.domain import gojson
from registry.domain.catalog import SchemaCatalog, default_catalog
from registry.domain.errors import StartupError
from registry.domain.model import encode_registry
from registry.domain.yaml_json import DEFAULT_LIMITS, YAMLLimits
from registry.host_os import permissions_are_mode_bits
from registry.service.chain import RegistryChain
from registry.storage.sources import (
    DEFAULT_MAX_ROW_BYTES,
    SourceSpec,
    SQLiteSource,
    StoreSource,
    load_yaml_registry,
    open_source,
    parse_entries,
)

log = logging.getLogger(__name__)


def seed_database(source: SQLiteSource, seed_file: Path) -> None:
    """Fill a just-created database once from the example YAML registry."""
    registry = load_yaml_registry(seed_file.read_text(encoding="utf-8"), str(seed_file))
    now = int(time.time() * 1000)
    registry["metadata"] = {"source": "seed", "version": 1, "created_at_ms": now, "updated_at_ms": now}
    source.store.put_payload(registry["slug"], gojson.dumps(encode_registry(registry)), now)
    log.info("seeded new database %s from %s", source.store.target.path, seed_file)


@dataclass
class RegistryService:
    """What the web layers and commands share: the chain of sources and the schema catalogs."""

    chain: RegistryChain
    catalog: SchemaCatalog
    specs: list[SourceSpec]

    @classmethod
    def from_settings(
        cls,
        entries: list[str],
        default_database: str,
        seed_file: str | None,
        yaml_limits: YAMLLimits = DEFAULT_LIMITS,
        max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    ) -> RegistryService:
        """Open every source (or the default database, seeded when new); StartupError on any problem."""
        specs = parse_entries(entries)
        seed_default = not specs
        if seed_default:
            Path(default_database).parent.mkdir(parents=True, exist_ok=True)
            specs = [SourceSpec("sqlite", default_database, default_database)]
        sources = []
        try:
            for i, spec in enumerate(specs):
                try:
                    source = open_source(spec, yaml_limits, max_row_bytes)
                except StartupError as exc:
                    raise StartupError(f"profile registry source {i} ({spec.shown}): {exc}") from exc
                sources.append(source)
                if seed_default and isinstance(source, SQLiteSource) and source.store.created and seed_file:
                    seed_database(source, Path(seed_file))
            chain = RegistryChain(sources)
        except BaseException:
            for source in sources:
                source.close()
            raise
        view = chain.startup_view
        if not view.registries and not view.quarantined:
            log.warning("validation error (profile-settings.profile-registries): no registries loaded from sources")
        return cls(chain, default_catalog(), specs)

    def store_sources(self) -> list[StoreSource]:
        """The database sources (SQLite and PostgreSQL), in chain order: the ones writes can go to."""
        return [s for s in self.chain.sources if isinstance(s, StoreSource)]

    def sqlite_sources(self) -> list[SQLiteSource]:
        """The SQLite sources, in chain order."""
        return [s for s in self.chain.sources if isinstance(s, SQLiteSource)]

    def backup_source(self) -> StoreSource | None:
        """The database the API and the dashboard back up and restore: the first SQLite or PostgreSQL source in
        chain order (None: YAML only)."""
        return next(iter(self.store_sources()), None)

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /api/health: 200 ok/degraded while anything can be served, 503 when no registry can be read."""
        view = self.chain.view()
        databases = [database_health(source) for source in self.store_sources()]
        quarantined = [{"slug": q.slug, "reason": q.reason} for q in view.quarantined.values()]
        # A read-only file is served (reads stay fresh); it is a warning, not a degradation of the read API.
        warnings = [f"database {d['path']} is read-only: served read-only, writes are refused"
                    for d in databases if d["read_only"]]
        problems = self.catalog.problems()
        # A database server that went away: reads go on from the loaded rows, so degraded, not down.
        unavailable = [f"database {d['path']} unavailable since {d['unavailable_since']}: {d['unavailable']} "
                       "(serving the rows loaded before; writes are refused)"
                       for d in databases if d.get("unavailable")]
        problems = problems + unavailable
        status = "degraded" if quarantined or problems else "ok"
        first = databases[0] if databases else {}
        body = {
            "status": status,
            "database": first.get("path", ""),
            "journal_mode": first.get("journal_mode", ""),
            "busy_timeout_ms": first.get("busy_timeout_ms", 0),
            "databases": databases,
            "registries": len(view.registries),
            "default_registry": view.default_registry,
            "quarantined": quarantined,
            "catalogs": {
                "middlewares": len(self.catalog.middlewares),
                "extensions": len(self.catalog.extensions),
            },
            "problems": problems,
            "warnings": warnings,
        }
        code = 503 if not view.registries and quarantined else 200
        return code, body


def database_health(source: StoreSource) -> dict[str, Any]:
    """One database's entry in /api/health: where it is, its engine's settings, and why it is unavailable if it is."""
    health = source.store.health()
    entry: dict[str, Any] = {"path": health.location, "read_only": health.read_only}
    if isinstance(source, SQLiteSource):
        entry |= {
            "journal_mode": health.settings["journal_mode"],
            "busy_timeout_ms": health.settings["busy_timeout_ms"],
            "permission_warnings": permission_warnings(source.store.target.path),
        }
    else:
        entry |= {"settings": health.settings, "permission_warnings": []}
    if health.problem is not None:
        entry["unavailable"] = health.problem
        since = datetime.fromtimestamp((health.problem_since_ms or 0) / 1000, UTC)
        entry["unavailable_since"] = since.isoformat(timespec="seconds").replace("+00:00", "Z")
    return entry


def permission_warnings(path: Path) -> list[str]:
    """POSIX mode bits that expose a database (or snapshot) to other users; empty on Windows (ACLs, see README)."""
    if not permissions_are_mode_bits() or not path.exists():
        return []
    mode = path.stat().st_mode
    warnings = []
    if mode & stat.S_IROTH:
        warnings.append(f"{path} is readable by every user (mode {stat.S_IMODE(mode):o})")
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        warnings.append(f"{path} is writable by other users (mode {stat.S_IMODE(mode):o})")
    return warnings
