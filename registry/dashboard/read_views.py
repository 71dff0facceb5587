"""The dashboard's read pages: the overview (registries, snapshots and their chart, health), one registry, one
profile, the schema catalogs, and the favicon. Thin views: pages.py gathers the data, one template renders it."""

from __future__ import annotations

import json

from flask import Response, current_app, g, render_template, send_from_directory, session

from registry.dashboard import context
from registry.dashboard import login_cookie as admin
from registry.dashboard.blueprint import bp
from registry.dashboard.cache import Listing, fill_ages, new_render_token, split_ages
from registry.dashboard.chart import ChartPoint, render_charts
from registry.dashboard.pages import (
    BackupTarget,
    health_strip,
    no_backup_reason,
    profile_rows,
    registry_rows,
    schema_properties,
    snapshot_rows,
)
from registry.domain.documents import redacted_profile
from registry.domain.errors import ProfileNotFound, RegistryError, RegistryNotFound, SlugError
from registry.domain.model import parse_profile_slug, parse_registry_slug
from registry.domain.resolve import resolve_profile
from registry.service.chain import ChainView
from registry.service.registry_service import RegistryService
from registry.storage import backups


@bp.get("/")
def overview() -> Response:
    """Every registry (quarantined ones in red), the snapshots with their chart, and the health strip."""
    service = context.service()
    view = service.chain.view()
    target = context.target_or_none()
    caches = context.caches()
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
    view = context.service().chain.view()
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
    view = context.service().chain.view()
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
    catalog = context.service().catalog
    middlewares = [(item, schema_properties(item["schema"])) for item in catalog.middleware_items()]
    extensions = [(item, schema_properties(item["schema"])) for item in catalog.extension_items()]
    return render_template("schemas.html", middlewares=middlewares, extensions=extensions, problems=catalog.problems())


def _registry_slug(raw: str) -> str:
    try:
        return parse_registry_slug(raw)
    except SlugError as exc:
        raise RegistryNotFound() from exc
