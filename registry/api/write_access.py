"""What every admin write route shares: the access check that runs before a body is parsed, the target registry
and `?expected_version=` arguments, and the OpenAPI fragments the write routes document themselves with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from registry.api.common import BadArgument, Blueprint, current_view, registry_arg
from registry.api.schemas import ErrorBodySchema
from registry.domain.errors import ReadOnlyStore, SlugError
from registry.domain.model import parse_registry_slug
from registry.service.writes import RegistryWriter
from registry.web.app_state import app_state
from registry.web.auth import bearer_actor

F = TypeVar("F", bound=Callable[..., Any])

SOURCE = "api"  # metadata.source of every write made through this API

# The bearer scheme itself is declared once, in register_api (registry/api/__init__.py).
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ERRORS = {"description": "JSON error (`code`, `status`, `message`)", "schema": ErrorBodySchema}
TOO_LARGE = {
    "description": "the body is over MAX_CONTENT_LENGTH, or the row would be over REGISTRY_MAX_ROW_BYTES",
    "schema": ErrorBodySchema,
}
EXPECTED_VERSION_PARAM = {
    "in": "query",
    "name": "expected_version",
    "schema": {"type": "integer", "minimum": 0},
    "required": False,
    "description": "refuse with 409 unless the stored version equals this",
}
REGISTRY_PARAM = {"in": "query", "name": "registry", "schema": {"type": "string"}, "required": False}


def write_errors(blp: Blueprint, *statuses: int) -> Callable[[F], F]:
    """Document a write route's JSON error answers (413 with what makes a body too large)."""

    def decorate(view: F) -> F:
        for status in statuses:
            view = blp.alt_response(status, **(TOO_LARGE if status == 413 else ERRORS))(view)
        return view

    return decorate


def writer() -> RegistryWriter:
    """The app's RegistryWriter (built by the app factory)."""
    return app_state().writer


def guard_write() -> None:
    """A write blueprint's before-request hook: 403 unless writable, then 401 unless a valid bearer token, both
    before any body parsing (a client without access never costs a parse)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not current_app.config.get("WRITABLE"):
        raise ReadOnlyStore()
    g.actor = bearer_actor()


def chosen_registry(body: dict[str, Any]) -> str:
    """The registry a profile write targets: body `registry`, else `?registry=`, else the default registry."""
    raw = body.pop("registry", None)
    return registry_arg(raw) or registry_arg(request.args.get("registry")) or current_view().default_registry


def expected_version_query() -> int | None:
    """`?expected_version=` as the historical DELETE route read it (400 `invalid expected_version`)."""
    raw = request.args.get("expected_version")
    if raw is None or not raw.strip():
        return None
    # ASCII digits only: str.isdigit() also accepts "²" and "①", which int() refuses with a ValueError.
    digits = raw.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        raise BadArgument("invalid expected_version")
    return int(digits)


def registry_slug_arg(raw: str) -> str:
    """The path's registry slug; 400 `invalid registry`."""
    try:
        return parse_registry_slug(raw)
    except SlugError as exc:
        raise BadArgument("invalid registry") from exc
