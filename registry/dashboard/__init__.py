"""The operator dashboard: server-rendered pages for registries, profiles, schemas, backups and health."""

from __future__ import annotations

from flask import Flask


def dashboard_parts() -> dict[type, object]:
    """The dashboard's part of an app's state (registry/web/app_state.py): its own caches and live logins."""
    from registry.dashboard.cache import DashboardCaches
    from registry.dashboard.login_cookie import LiveLogins

    return {DashboardCaches: DashboardCaches.create(), LiveLogins: LiveLogins()}


def register_dashboard(app: Flask) -> None:
    """Mount the dashboard blueprint at `/`, with the routes and error pages of its modules."""
    # Imported for their decorators, which add the routes and error handlers to `bp`.
    from registry.dashboard import backup_views, login_views, page_errors, read_views  # noqa: F401
    from registry.dashboard.blueprint import bp

    app.register_blueprint(bp)
