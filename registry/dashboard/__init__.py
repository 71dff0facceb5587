"""The operator dashboard: server-rendered pages for registries, profiles, schemas, backups and health."""

from __future__ import annotations

from flask import Flask


def register_dashboard(app: Flask) -> None:
    """Mount the dashboard blueprint at `/`, with this app's own caches."""
    from registry.dashboard.cache import DashboardCaches
    from registry.dashboard.login_cookie import LOGINS_KEY, LiveLogins
    from registry.dashboard.views import CACHES_KEY, bp

    app.extensions[CACHES_KEY] = DashboardCaches.create()
    app.extensions[LOGINS_KEY] = LiveLogins()
    app.register_blueprint(bp)
