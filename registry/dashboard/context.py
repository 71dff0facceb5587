"""What the dashboard's views take from the app: the service, the dashboard's caches, the backup target, and the
checks an action makes before it touches the database."""

from __future__ import annotations

from flask import current_app

from registry.dashboard.cache import DashboardCaches
from registry.dashboard.pages import BackupTarget, backup_target, no_backup_reason
from registry.domain.errors import ReadOnlyStore, RegistryNotFound
from registry.service.registry_service import RegistryService
from registry.web.app_state import app_state


def service() -> RegistryService:
    return app_state().service


def caches() -> DashboardCaches:
    return app_state().part(DashboardCaches)


def target_or_none() -> BackupTarget | None:
    """The database the dashboard backs up and its snapshot folder; None when there is none to back up."""
    found = caches()
    if found.target is None:
        # Sources and BACKUP_DIR are fixed once the app is built; False remembers "no SQLite source".
        found.target = backup_target(service(), current_app.config.get("BACKUP_DIR")) or False
    return found.target or None


def require_target() -> BackupTarget:
    """The backup target, or 404 with the reason there is none (an action needs one)."""
    target = target_or_none()
    if target is None:
        raise RegistryNotFound(no_backup_reason(service(), current_app.config.get("BACKUP_DIR")))
    return target


def require_writable() -> None:
    """Restore rewrites the live database: like every other write it needs `serve --writable` (403 otherwise)."""
    if not current_app.config.get("WRITABLE"):
        raise ReadOnlyStore()
