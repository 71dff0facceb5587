"""Error responses: the reference's plain text on its routes, JSON elsewhere under /api/, HTML for pages.

flask-smorest installs one app-wide HTTPException handler; `Api` below overrides it (its documented hook) to pick
the shape from the one table in error_shapes.py, so no request under /api/ ever gets an HTML page or a traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import flask_smorest
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError

from registry.api.common import BadArgument, dumped
from registry.api.error_shapes import Family, Shape, family_of, shape_of
from registry.api.schemas import ChatErrorSchema, ErrorBodySchema
from registry.domain.errors import (
    RegistryError,
    SlugError,
)
from registry.domain.model import parse_profile_slug
from registry.storage.interface import StorageError
from registry.web.errors import UNAVAILABLE, page_error, status_of

log = logging.getLogger(__name__)

ERROR_BODY = ErrorBodySchema()
CHAT_ERROR = ChatErrorSchema()

# Routes whose errors the reference writes as plain text (contract §4.0, §4.8).
PROFILES_PATH = "/api/chat/profiles"
CURRENT_PROFILE_PATH = "/api/chat/profile"
SCHEMAS_PREFIX = "/api/chat/schemas/"


def current_shape() -> Shape | None:
    """The error shape of the current request's route (registry/api/error_shapes.py); None for an HTML page."""
    routed = request.blueprint if request.url_rule is not None else None
    return shape_of(request.method, request.path, routed)


def is_reference_request() -> bool:
    """True on the reference's read routes, whose error texts are the reference's own."""
    return current_shape() is Shape.REFERENCE


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
    return dumped(ERROR_BODY, body, status)


def text_error(status: int, message: str) -> Response:
    """The reference's http.Error: plain text, nosniff, message and a newline; JSON if asked for."""
    if wants_json():
        return json_error(status, message)
    response = Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def chat_error(status: int, message: str) -> Response:
    """The chat routes' shape: `{"error": message}` in Go's encoding."""
    return dumped(CHAT_ERROR, {"error": message}, status)


def api_error(status: int, message: str, **extra: object) -> Response:
    """An error in the shape the current route uses."""
    shape = current_shape()
    if shape is Shape.REFERENCE:
        return text_error(status, message)
    if shape is Shape.CHAT:
        return chat_error(status, message)
    return json_error(status, message, **extra)


def method_refusal(family: Family, path: str) -> Response:
    """A method the route's Go handler does not serve, in the family's read shape (HEAD and OPTIONS included)."""
    if family.reads is Shape.REFERENCE:
        return text_error(*reference_refusal(path))
    if family.reads is Shape.CHAT:
        return chat_error(405, "method not allowed")
    return json_error(405, "method not allowed")


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


def http_error_response(exc: HTTPException) -> Response:
    """An HTTP error (abort, routing, webargs) in the shape the table gives its route; an HTML page outside /api/."""
    code = exc.code or 500
    family = family_of(request.path)
    if family is not None:
        shape = current_shape()
        # A wrong method on a Go handler's path is refused in its read shape whatever the method was.
        if code == 405 and family.go_methods:
            response = method_refusal(family, request.path)
        elif shape is Shape.REFERENCE:
            response = text_error(code, _reference_http_text(exc))
        elif shape is Shape.CHAT:
            response = chat_error(code, "not found" if code == 404 else _reference_http_text(exc))
        else:
            # webargs validation errors carry their messages in exc.data (flask-smorest's shape).
            data = getattr(exc, "data", None) or {}
            extra = {"errors": data["messages"]} if "messages" in data else {}
            response = json_error(code, data.get("message") or exc.description or "", **extra)
        if response.status_code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response
    return page_error(code, exc.description or HTTPStatus(code).phrase)


class Api(flask_smorest.Api):
    """flask-smorest's Api with its documented HTTP-error hook answering through the one shape table, so every
    HTTP error of every route family (the reference's, the chat routes', ours, the dashboard's pages) takes one path."""

    def handle_http_exception(self, error: HTTPException) -> Response:
        return http_error_response(error)


def install(app: Flask) -> None:
    """Register the handlers of the errors that are not HTTP errors (those go through `Api`)."""

    @app.before_request
    def refuse_head_and_options() -> Response | None:
        # Go's handlers serve only their methods: HEAD and OPTIONS are 405 there, while Flask would answer them.
        # Every request passes here, so the common case is decided from the environ alone.
        if request.environ["REQUEST_METHOD"] not in ("HEAD", "OPTIONS"):
            return None
        family = family_of(request.path)
        return method_refusal(family, request.path) if family is not None and family.go_methods else None

    @app.errorhandler(BadArgument)
    def handle_bad_argument(exc: BadArgument) -> Response:
        return api_error(400, str(exc))

    @app.errorhandler(RecursionError)
    def handle_too_deep(exc: RecursionError) -> Response:
        # json.loads (ours, webargs', Flask's) raises RecursionError, not ValueError, on a body nested a few
        # thousand levels deep: that is a malformed request, not a server fault (tests/faults/test_hostile_http.py).
        log.warning("refused %s %s: %s", request.method, request.path, exc)
        shape = current_shape()
        return api_error(400, "request body is nested too deeply" if shape is Shape.JSON else "bad request")

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

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return http_error_response(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if current_shape() is not None:
            return api_error(500, UNAVAILABLE if is_reference_request() else "internal server error")
        return page_error(500, InternalServerError.description or "internal server error")
