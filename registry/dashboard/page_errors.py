"""The dashboard's error pages: every failure of a dashboard route is an HTML page with the reason and the status
the API would give (registry/web/errors.py), never a traceback."""

from __future__ import annotations

from flask import Response

from registry.dashboard import login_cookie as admin
from registry.dashboard.blueprint import bp
from registry.domain.errors import RegistryError
from registry.storage import backups
from registry.web.errors import page_error, status_of


@bp.errorhandler(admin.CsrfRefused)
def csrf_refused(exc: admin.CsrfRefused) -> Response:
    """A POST without the session's CSRF token: 400."""
    return page_error(400, str(exc))


@bp.errorhandler(admin.LoginRequired)
def login_required(exc: admin.LoginRequired) -> Response:
    """An action without a login: 403."""
    return page_error(403, str(exc))


@bp.errorhandler(backups.SnapshotNotFound)
def snapshot_not_found(exc: backups.SnapshotNotFound) -> Response:
    """An unknown snapshot name: 404."""
    return page_error(404, str(exc) or "snapshot not found")


@bp.errorhandler(backups.SnapshotUnavailable)
def snapshot_unavailable(exc: backups.SnapshotUnavailable) -> Response:
    """The database could not be reached (PostgreSQL down) or was busy: 503 with the reason; nothing changed."""
    return page_error(503, str(exc))


@bp.errorhandler(backups.SnapshotError)
def snapshot_error(exc: backups.SnapshotError) -> Response:
    """A snapshot that fails its checks: 500 naming the reason."""
    # A snapshot that fails its checks: the reason is for the operator, not a generic "unavailable".
    return page_error(500, str(exc))


@bp.errorhandler(RegistryError)
def registry_error(exc: RegistryError) -> Response:
    """Domain errors on dashboard routes: the API's status, as an HTML page."""
    # The app-wide handler answers API shapes; dashboard routes get the same status as an HTML page.
    status, message, _ = status_of(exc)
    return page_error(status, message)
