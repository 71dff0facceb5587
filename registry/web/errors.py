"""Errors every web surface shares: the status of each domain error, and the HTML error page.

The API answers these statuses in its own shapes (registry/api/errors.py); the dashboard renders the same status
as a page. Keeping the table here lets both use it without the dashboard importing the API.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from flask import Response, render_template

from registry.domain.edits import AlreadyExists
from registry.domain.errors import (
    ProfileNotFound,
    ReadOnlyStore,
    RegistryError,
    RegistryNotFound,
    RegistryQuarantined,
    RowTooLarge,
    StoreUnavailable,
    ValidationError,
    VersionConflict,
)
from registry.domain.partial_restore import RestoreConflict, RestoreRefused
from registry.domain.payload_validation import PayloadSchemaError
from registry.web.auth import Unauthorized

log = logging.getLogger(__name__)

UNAVAILABLE = "profile registry unavailable"


def status_of(exc: RegistryError) -> tuple[int, str, dict[str, object]]:
    """The reference's error mapping (§4.8), with this project's fixes: 409 for conflicts, 500 naming a bad row."""
    if isinstance(exc, (ProfileNotFound, RegistryNotFound)):
        return 404, str(exc), {}
    if isinstance(exc, ValidationError):
        return 400, str(exc), {}
    if isinstance(exc, Unauthorized):
        return 401, str(exc), {}
    if isinstance(exc, ReadOnlyStore):
        return 403, str(exc), {}
    if isinstance(exc, VersionConflict):
        return 409, str(exc), {"expected_version": exc.expected, "actual_version": exc.actual}
    if isinstance(exc, RestoreConflict):
        return 409, str(exc), {}
    if isinstance(exc, RestoreRefused):
        return 422, str(exc), {}
    if isinstance(exc, AlreadyExists):
        return 409, str(exc), {}
    if isinstance(exc, PayloadSchemaError):
        # 422 like a webargs failure: `errors` keyed by location, then by JSON pointer into the request body.
        grouped: dict[str, list[str]] = {}
        for where, reason in exc.problems:
            grouped.setdefault(where, []).append(reason)
        return 422, str(exc), {"pointer": exc.pointer, "errors": {"json": grouped}}
    if isinstance(exc, StoreUnavailable):
        return 503, str(exc), {}
    if isinstance(exc, RowTooLarge):
        return 413, str(exc), {}
    if isinstance(exc, RegistryQuarantined):
        return 500, f"{UNAVAILABLE}: {exc}", {}
    return 500, UNAVAILABLE, {}


def page_error(status: int, message: str) -> Response:
    """An HTML error page for browser routes, in the site's layout."""
    try:
        html = render_template("error.html", status=status, phrase=HTTPStatus(status).phrase, message=message)
    except Exception:  # the template itself failing must not turn an error page into a traceback
        log.exception("error page template failed")
        html = f"<!doctype html><title>{status}</title><h1>{status} {HTTPStatus(status).phrase}</h1>"
    return Response(html, status=status, mimetype="text/html")
