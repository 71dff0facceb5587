"""The dashboard's routes: thin views that gather page data (pages.py) and render one template each."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from registry.dashboard import login_cookie as admin
from registry.dashboard.cache import DashboardCaches, Listing, age_marker, fill_ages, new_render_token, split_ages
from registry.dashboard.chart import ChartPoint, render_charts
from registry.dashboard.formatting import age, file_size, iso_time, pretty_json, utc_time
from registry.dashboard.pages import (
    BackupTarget,
    backup_target,
    health_strip,
    no_backup_reason,
    profile_rows,
    registry_rows,
    restore_rows,
    schema_properties,
    snapshot_rows,
)
from registry.domain.documents import redacted_profile
from registry.domain.errors import (
    ProfileNotFound,
    ReadOnlyStore,
    RegistryError,
    RegistryNotFound,
    SlugError,
    ValidationError,
)
from registry.domain.model import parse_profile_slug, parse_registry_slug
from registry.domain.partial_restore import RestoreConflict
from registry.domain.resolve import resolve_profile
from registry.service.chain import ChainView
from registry.service.partial_restore import Selection, restore_partially
from registry.service.registry_service import RegistryService
from registry.service.snapshot_diff import diff_snapshot, live_side, snapshot_side
from registry.storage import backups
from registry.web.app_state import app_state
from registry.web.errors import page_error, status_of

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)

# Pages show live state and carry CSRF tokens: never stored by the browser; no resource from anywhere but here.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _service() -> RegistryService:
    return app_state().service


def _caches() -> DashboardCaches:
    return app_state().part(DashboardCaches)


def _target() -> BackupTarget | None:
    caches = _caches()
    if caches.target is None:
        # Sources and BACKUP_DIR are fixed once the app is built; False remembers "no SQLite source".
        caches.target = backup_target(_service(), current_app.config.get("BACKUP_DIR")) or False
    return caches.target or None


@bp.after_request
def add_security_headers(response: Response) -> Response:
    """Every dashboard response: no caching, no framing, no resource from anywhere else."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@bp.app_context_processor
def template_globals() -> dict[str, Any]:
    """What every page (error pages included) needs: the login state and a CSRF token factory."""
    return {
        "admin_actor": admin.current_actor(),
        "csrf_token": admin.csrf_token,
        "csrf_field": admin.CSRF_FIELD,
    }


@bp.app_template_filter("utc")
def utc_filter(value: Any) -> str:
    """`{{ ms | utc }}`: 2026-11-26 19:03:23 UTC."""
    return utc_time(value)


@bp.app_template_filter("iso")
def iso_filter(value: Any) -> str:
    """`{{ ms | iso }}`: the <time datetime> form."""
    return iso_time(value)


@bp.app_template_filter("age")
def age_filter(value: Any) -> str:
    """`{{ ms | age }}`: 3 min ago."""
    # A page that is cached gets markers, filled in per request (cache.fill_ages).
    token = g.get("age_token")
    # Markup: the placeholder is hex and digits only, and must reach split_ages unescaped.
    return Markup(age_marker(value, token)) if token else age(value)


@bp.app_template_filter("filesize")
def filesize_filter(value: Any) -> str:
    """`{{ size | filesize }}`: 12.5 KiB."""
    return file_size(value)


@bp.app_template_filter("pretty_json")
def pretty_json_filter(value: Any) -> str:
    """`{{ value | pretty_json }}`: indented JSON for a <pre>."""
    return pretty_json(value)


# --- errors: HTML pages for every dashboard route ------------------------------------------------------------


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


# --- read pages ------------------------------------------------------------------------------------------------


@bp.get("/")
def overview() -> Response:
    """Every registry (quarantined ones in red), the snapshots with their chart, and the health strip."""
    service = _service()
    view = service.chain.view()
    target = _target()
    caches = _caches()
    listing = None
    if target is not None:
        listing = caches.listings.get(
            target.backup_dir, lambda: backups.list_snapshots(target.database, target.backup_dir)
        )
    _, health = service.health()
    actor = admin.current_actor()
    key = (
        view.key,
        listing.generation if listing else None,
        json.dumps(health, sort_keys=True, default=str),
        actor,
        admin.csrf_token() if actor else None,
    )
    # A flashed message is shown once: such a page is rendered fresh and not kept (rendering pops the messages,
    # so look before).
    flashed = bool(session.get("_flashes"))
    page = None if flashed else caches.pages.get(key)
    if page is None:
        g.age_token = token = new_render_token()
        try:
            page = split_ages(_render_overview(service, view, target, listing, health), token)
        finally:
            g.age_token = None
        if flashed:
            return Response(fill_ages(page), mimetype="text/html")
        caches.pages.put(key, page)
    return Response(caches.pages.filled(key, page), mimetype="text/html")


def _render_overview(
    service: RegistryService, view: ChainView, target: BackupTarget | None, listing: Listing | None, health: dict
) -> str:
    snapshots = listing.snapshots if listing else []
    live_newest = target.live_newest_ms() if target else 0
    chart = render_charts(
        [
            ChartPoint(s.name, s.created_at, s.size, None if s.problem else s.newest_updated_at_ms)
            for s in reversed(snapshots)
        ]
    )
    return render_template(
        "overview.html",
        registries=registry_rows(view),
        quarantined=list(view.quarantined.values()),
        default_registry=view.default_registry,
        target=target,
        snapshots=snapshot_rows(snapshots, live_newest),
        snapshot_error=listing.error if listing else "",
        no_backup="" if target else no_backup_reason(service, current_app.config.get("BACKUP_DIR")),
        live_newest=live_newest,
        chart=chart,
        health=health_strip(health),
        # Without --writable a restore is refused (403), so no button offers one (the page says why instead).
        restore_allowed=bool(current_app.config.get("WRITABLE")),
    )


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for on their own (API responses and /docs link none), from the static folder."""
    assert current_app.static_folder is not None
    response = send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")
    # Unlike the pages, the icon may be cached: it only changes with a new release.
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/registries/<slug>")
def registry_page(slug: str) -> str:
    """One registry's profiles; a quarantined registry shows its reason instead."""
    registry_slug = _registry_slug(slug)
    view = _service().chain.view()
    bad = view.quarantined.get(registry_slug)
    if bad is not None:
        return render_template("registry.html", slug=registry_slug, quarantined=bad, loaded=None, profiles=[])
    loaded = view.registries.get(registry_slug)
    if loaded is None:
        raise RegistryNotFound()
    return render_template(
        "registry.html",
        slug=registry_slug,
        quarantined=None,
        loaded=loaded,
        source=view.source_of.get(registry_slug, ""),
        profiles=profile_rows(view, registry_slug, loaded.registry),
    )


@bp.get("/registries/<slug>/profiles/<profile>")
def profile_page(slug: str, profile: str) -> str:
    """The stored profile, its stack lineage and the effective settings; a resolution problem is shown in place."""
    registry_slug = _registry_slug(slug)
    try:
        profile_slug = parse_profile_slug(profile)
    except SlugError as exc:
        raise ProfileNotFound() from exc
    view = _service().chain.view()
    stored = view.profile(registry_slug, profile_slug)
    resolved = None
    resolve_error = ""
    try:
        resolved = resolve_profile(view, registry_slug, profile_slug)
    except RegistryError as exc:
        # A cycle, a missing or quarantined stack target: the stored profile is still worth showing.
        resolve_error = str(exc)
    return render_template(
        "profile.html",
        registry_slug=registry_slug,
        registry=view.registry(registry_slug),
        profile=stored,
        document=redacted_profile(stored),
        resolved=resolved,
        resolve_error=resolve_error,
    )


@bp.get("/schemas")
def schemas_page() -> str:
    """Both schema catalogs with each schema's properties, types and defaults."""
    catalog = _service().catalog
    middlewares = [(item, schema_properties(item["schema"])) for item in catalog.middleware_items()]
    extensions = [(item, schema_properties(item["schema"])) for item in catalog.extension_items()]
    return render_template("schemas.html", middlewares=middlewares, extensions=extensions, problems=catalog.problems())


def _registry_slug(raw: str) -> str:
    try:
        return parse_registry_slug(raw)
    except SlugError as exc:
        raise RegistryNotFound() from exc


# --- login ---------------------------------------------------------------------------------------------------


def _safe_next(raw: str | None) -> str:
    """Only a path on this server: an open redirect after login would hand the session to anyone's link."""
    if raw and raw.startswith("/") and not raw.startswith("//") and not urlsplit(raw).netloc and "\\" not in raw:
        return raw
    return url_for("dashboard.overview")


@bp.get("/login")
def login_form() -> str:
    """The admin token form."""
    return render_template(
        "login.html", next=_safe_next(request.args.get("next")), error="", configured=admin.tokens_configured()
    )


@bp.post("/login")
def login() -> ResponseReturnValue:
    """Check the token (constant time); keep only the actor and a login flag in the signed session."""
    admin.check_csrf()
    target = _safe_next(request.form.get("next"))
    if admin.log_in(request.form.get("token", "")) is None:
        error = "That token is not accepted." if admin.tokens_configured() else "No admin token is configured."
        return render_template("login.html", next=target, error=error, configured=admin.tokens_configured()), 401
    return redirect(target, 303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the login (CSRF-checked, so another site cannot log the operator out)."""
    admin.check_csrf()
    admin.log_out()
    flash("Logged out.", "info")
    return redirect(url_for("dashboard.overview"), 303)


# --- actions -------------------------------------------------------------------------------------------------


def _require_target() -> BackupTarget:
    target = _target()
    if target is None:
        raise RegistryNotFound(no_backup_reason(_service(), current_app.config.get("BACKUP_DIR")))
    return target


def _require_writable() -> None:
    """Restore rewrites the live database: like every other write it needs `serve --writable` (403 otherwise)."""
    if not current_app.config.get("WRITABLE"):
        raise ReadOnlyStore()


@bp.post("/backups")
def backup_now() -> ResponseReturnValue:
    """Take a snapshot of the live database now."""
    actor = admin.require_login()
    target = _require_target()
    try:
        info, _ = backups.backup_then_prune(
            target.database,
            target.backup_dir,
            keep=current_app.config.get("BACKUP_KEEP"),
            max_age_days=current_app.config.get("BACKUP_MAX_AGE_DAYS"),
        )
    except (OSError, RegistryError) as exc:
        log.error("dashboard backup by %s failed: %s", actor, exc)
        flash(f"Backup failed: {exc}", "error")
    else:
        log.info("dashboard backup by %s: %s", actor, info.name)
        flash(f"Snapshot {info.name} created ({file_size(info.size)}).", "info")
    return redirect(url_for("dashboard.overview") + "#snapshots", 303)


@bp.get("/backups/<name>/restore")
def restore_confirm(name: str) -> ResponseReturnValue:
    """What a restore would change: every registry's updated_at_ms, live against the snapshot."""
    if admin.current_actor() is None:
        return redirect(url_for("dashboard.login_form", next=request.path), 303)
    _require_writable()
    target = _require_target()
    snapshot = backups.find_snapshot(target.database, name, target.backup_dir)
    if snapshot.problem == backups.NO_MANIFEST:
        # A runbook `cp` copy: no manifest lists its rows, so the file is checked now, as the restore will check
        # it (a file that fails is the error page with the reason, and no button).
        snapshot, checked = backups.check_unlisted(snapshot.path)
        profiles: object = checked.profiles
    elif not snapshot.restorable:
        raise backups.SnapshotError(f"{snapshot.name}: {snapshot.problem}")
    else:
        profiles = snapshot.manifest.get("profiles")
    changes = backups.compare_with_live(target.database, snapshot)
    rows = restore_rows(changes, target.live_profiles(), profiles if isinstance(profiles, dict) else None)
    diff = diff_snapshot(live_side(target.database), snapshot_side(snapshot.path))
    return render_template(
        "restore.html",
        snapshot=snapshot,
        rows=rows,
        target=target,
        diff=diff,
        partial=bool(current_app.config.get("WRITABLE")),
    )


@bp.post("/backups/<name>/restore")
def restore(name: str) -> ResponseReturnValue:
    """Copy the snapshot into the live database; the data it replaces is kept as a safety snapshot."""
    actor = admin.require_login()
    _require_writable()
    target = _require_target()
    snapshot = backups.find_snapshot(target.database, name, target.backup_dir)
    if request.form.getlist("registry") or request.form.getlist("profile"):
        return _restore_partially(actor, target, snapshot.path)
    try:
        result = backups.restore_snapshot(target.database, snapshot.path, target.backup_dir)
    except (OSError, RegistryError) as exc:
        log.error("dashboard restore of %s by %s failed: %s", name, actor, exc)
        flash(f"Restore from {name} failed: {exc}", "error")
    else:
        log.warning("dashboard restore by %s from %s", actor, name)
        safety = result.safety_snapshot.name
        flash(f"Restored from {name}. The data it replaced is kept in snapshot {safety}.", "info")
    return redirect(url_for("dashboard.overview"), 303)


def _expected_stamps() -> dict[str, int | None]:
    """The `expected.<slug>` fields: the live updated_at_ms the confirmation page showed (`absent`: no row)."""
    stamps: dict[str, int | None] = {}
    for key, value in request.form.items():
        if key.startswith("expected."):
            if value != "absent" and not (value.isascii() and value.isdigit()):
                raise ValidationError(key, f"{value!r} is not an updated_at_ms")
            stamps[key.removeprefix("expected.")] = None if value == "absent" else int(value)
    return stamps


def _restore_partially(actor: str, target: BackupTarget, snapshot_path: Path) -> ResponseReturnValue:
    """Restore the one registry or profile a button of the confirmation page names; back to that page on a 409."""
    name = snapshot_path.name
    try:
        selection = Selection.parse(request.form.getlist("registry"), request.form.getlist("profile"))
        result = restore_partially(
            _service(), snapshot_path, target.backup_dir, selection, expected=_expected_stamps(), actor=actor
        )
    except RestoreConflict as exc:
        flash(f"{exc}. The page now shows the current differences.", "error")
        return redirect(url_for("dashboard.restore_confirm", name=name), 303)
    except (OSError, RegistryError) as exc:
        log.error("dashboard partial restore from %s by %s failed: %s", name, actor, exc)
        flash(f"Restore from {name} failed: {exc}", "error")
        return redirect(url_for("dashboard.restore_confirm", name=name), 303)
    log.warning("dashboard restore of %s by %s from %s", selection.describe(), actor, name)
    flash(
        f"Restored {selection.describe()} from {name}. The data it replaced is kept in snapshot "
        f"{result.safety_snapshot.name}.",
        "info",
    )
    return redirect(url_for("dashboard.overview"), 303)
