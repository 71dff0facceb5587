"""Error responses: the reference's plain text on its routes, JSON elsewhere under /api/, HTML for pages.

flask-smorest installs one app-wide HTTPException handler; this module replaces it with one that picks the
shape by path, so no request under /api/ ever gets an HTML page or a traceback.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from flask import Flask, Response, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

from registry.api.common import BadArgument
from registry.domain import gojson
from registry.domain.errors import (
    RegistryError,
    SlugError,
)
from registry.domain.model import parse_profile_slug
from registry.storage.interface import StorageError
from registry.web.errors import UNAVAILABLE, page_error, status_of

log = logging.getLogger(__name__)

# Routes whose errors the reference writes as plain text (contract §4.0, §4.8).
PROFILES_PATH = "/api/chat/profiles"
CURRENT_PROFILE_PATH = "/api/chat/profile"
SCHEMAS_PREFIX = "/api/chat/schemas/"


def is_reference_path(path: str) -> bool:
    """A path the reference's profile/schema handlers own (their 404/405/400 texts apply)."""
    return (
        path in (PROFILES_PATH, CURRENT_PROFILE_PATH)
        or path.startswith((PROFILES_PATH + "/", SCHEMAS_PREFIX))
    )


def is_reference_request() -> bool:
    """True for the read routes the reference serves; our own write routes on the same paths answer JSON."""
    path = request.path
    if not is_reference_path(path):
        return False
    if path == CURRENT_PROFILE_PATH:
        return True
    return request.method not in ("POST", "PUT", "PATCH", "DELETE")


def reference_refusal(path: str) -> tuple[int, str]:
    """What the reference answers a method it does not serve on `path`, in its handler's order (contract §4.2).

    The profile-detail handler splits the path and parses the slug before it looks at the method, so a bad
    path is 404 and a bad slug 400 whatever the method; only a well-formed path gets 405.
    """
    if path.startswith(PROFILES_PATH + "/"):
        segments = path[len(PROFILES_PATH) + 1 :].split("/")
        if not segments[0] or len(segments) > 2 or (len(segments) == 2 and segments[1] not in ("", "default")):
            return 404, "404 page not found"
        try:
            parse_profile_slug(segments[0])
        except SlugError:
            return 400, "invalid profile slug"
        return 405, "method not allowed"
    if path in (PROFILES_PATH, CURRENT_PROFILE_PATH) or path in (
        SCHEMAS_PREFIX + "middlewares",
        SCHEMAS_PREFIX + "extensions",
    ):
        return 405, "method not allowed"
    return 404, "404 page not found"


def wants_json() -> bool:
    """The client asked for JSON explicitly (curl's */* and browsers get text)."""
    best = request.accept_mimetypes.best_match(["text/plain", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > request.accept_mimetypes[
        "text/plain"
    ]


def json_error(status: int, message: str, **extra: object) -> Response:
    """flask-smorest's JSON error shape."""
    body = {"code": status, "status": HTTPStatus(status).phrase, "message": message} | extra
    return Response(json.dumps(body) + "\n", status=status, mimetype="application/json")


def text_error(status: int, message: str) -> Response:
    """The reference's http.Error: plain text, nosniff, message and a newline; JSON if asked for."""
    if wants_json():
        return json_error(status, message)
    response = Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def api_error(status: int, message: str, **extra: object) -> Response:
    """An error in the shape the current route uses."""
    return text_error(status, message) if is_reference_request() else json_error(status, message, **extra)


def registry_error_response(exc: RegistryError) -> Response:
    status, message, extra = status_of(exc)
    response = api_error(status, message, **extra)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="profile-registry"'
    return response


def _reference_http_text(exc: HTTPException) -> str:
    """The texts Go's mux and handlers use for route-level failures."""
    if exc.code == 404:
        return "404 page not found"
    if exc.code == 405:
        return "method not allowed"
    if exc.code == 400:
        return "bad request"
    return exc.description or HTTPStatus(exc.code or 500).phrase


def install(app: Flask, api: Api) -> None:
    """Register the handlers; called after flask-smorest so ours replace its app-wide one."""

    @app.before_request
    def refuse_head_and_options() -> Response | None:
        # Go's handlers accept GET only: HEAD and OPTIONS are 405 there, while Flask would answer them.
        if request.method in ("HEAD", "OPTIONS") and is_reference_path(request.path):
            return text_error(*reference_refusal(request.path))
        return None

    @app.errorhandler(BadArgument)
    def handle_bad_argument(exc: BadArgument) -> Response:
        return api_error(400, str(exc))

    @app.errorhandler(RecursionError)
    def handle_too_deep(exc: RecursionError) -> Response:
        # json.loads (ours, webargs', Flask's) raises RecursionError, not ValueError, on a body nested a few
        # thousand levels deep: that is a malformed request, not a server fault (tests/faults/test_hostile_http.py).
        log.warning("refused %s %s: %s", request.method, request.path, exc)
        if request.path.startswith("/api/chat/sessions"):
            return Response(gojson.body({"error": "bad request"}), status=400, mimetype="application/json")
        return api_error(400, "bad request" if is_reference_request() else "request body is nested too deeply")

    @app.errorhandler(StorageError)
    def handle_database_error(exc: StorageError) -> Response:
        # A write that hits a full disk (or a file-size limit) fails inside its transaction, which rolls back:
        # tell the client what happened instead of a bare 500. Other database errors stay 500s.
        text = str(exc)
        log.error("database error on %s %s: %s", request.method, request.path, text)
        if exc.kind == "full":
            return api_error(507, f"the write was not stored: database or disk is full ({text})")
        if exc.kind == "busy":
            return api_error(503, f"the database is busy, try again ({text})")
        return api_error(500, UNAVAILABLE if is_reference_request() else "database error")

    @app.errorhandler(RegistryError)
    def handle_registry_error(exc: RegistryError) -> Response:
        return registry_error_response(exc)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        code = exc.code or 500
        if request.path.startswith("/api/"):
            # A wrong method on a reference path is the reference's text whatever the method was.
            if code == 405 and is_reference_path(request.path):
                code, text = reference_refusal(request.path)
                response = text_error(code, text)
            elif is_reference_request():
                response = text_error(code, _reference_http_text(exc))
            else:
                # webargs validation errors carry their messages in exc.data (flask-smorest's shape).
                data = getattr(exc, "data", None) or {}
                extra = {"errors": data["messages"]} if "messages" in data else {}
                response = json_error(code, data.get("message") or exc.description or "", **extra)
            if response.status_code == 405 and getattr(exc, "valid_methods", None):
                response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
            return response
        return page_error(code, exc.description or HTTPStatus(code).phrase)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return handle_http_exception(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return api_error(500, UNAVAILABLE if is_reference_request() else "internal server error")
        return page_error(500, InternalServerError.description or "internal server error")


def json_body(value: object, status: int = 200) -> Response:
    """A success body in the reference's bytes (compact JSON and a newline)."""
    return Response(gojson.body(value), status=status, mimetype="application/json")
