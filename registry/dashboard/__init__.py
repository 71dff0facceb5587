"""The operator dashboard: server-rendered pages for registries, profiles, schemas, backups and health."""

from __future__ import annotations

from flask import Flask


def dashboard_parts() -> dict[type, object]:
    """The dashboard's part of an app's state (registry/web/app_state.py): its own caches and live logins."""
    from registry.dashboard.cache import DashboardCaches
    from registry.dashboard.login_cookie import LiveLogins

    return {DashboardCaches: DashboardCaches.create(), LiveLogins: LiveLogins()}


def register_dashboard(app: Flask) -> None:
    """Mount the dashboard blueprint at `/`."""
    from registry.dashboard.views import bp

    app.register_blueprint(bp)
