"""The dashboard's blueprint and what every page shares: security headers, the template globals and filters.

The routes live beside it, one module per kind of page (read_views, login_views, backup_views), and its error
pages in page_errors; register_dashboard (registry/dashboard/__init__.py) imports them all before registering `bp`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g
from markupsafe import Markup

from registry.dashboard import login_cookie as admin
from registry.dashboard.cache import age_marker
from registry.dashboard.formatting import age, file_size, iso_time, pretty_json, utc_time

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
