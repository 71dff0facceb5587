"""Helpers the API views share: the service on the app, the `?registry=` argument, the strict body parser."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Request, Response, current_app, request
from marshmallow import Schema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from registry.domain import gojson
from registry.domain.api_key_env import ApiKeyEnvPolicy
from registry.domain.errors import SlugError
from registry.domain.model import parse_registry_slug
from registry.service.chain import ChainView
from registry.service.registry_service import RegistryService
from registry.web.app_state import app_state
from registry.web.request_json import BadJSON, parse_body


def json_body(value: object, status: int = 200) -> Response:
    """Every JSON success response of the API: `value` in the reference's bytes (compact JSON and a newline), or
    the bytes themselves when a route cached them (the profile reads)."""
    body = value if isinstance(value, bytes) else gojson.body(value)
    return Response(body, status=status, mimetype="application/json")


def dumped(schema: Schema, value: object, status: int = 200) -> Response:
    """A success response whose body the route's marshmallow schema produces from domain values."""
    return json_body(schema.dump(value), status)


class BadArgument(Exception):
    """A route-local 400 whose text the reference fixes (`invalid registry`, `bad request`, ...)."""


def service() -> RegistryService:
    """The RegistryService created by the app factory."""
    return app_state().service


def key_policy() -> ApiKeyEnvPolicy:
    """Which variables a profile may name as its API key (API_KEY_ENV_ALLOWED)."""
    return ApiKeyEnvPolicy(tuple(current_app.config["API_KEY_ENV_ALLOWED"]))


def current_view() -> ChainView:
    """The chain view for this request (fresh if the database changed)."""
    return service().chain.view()


def registry_arg(raw: str | None) -> str:
    """A registry slug from a query or body field: blank is "", invalid is 400 `invalid registry`."""
    if raw is None or not raw.strip():
        return ""
    try:
        return parse_registry_slug(raw)
    except SlugError as exc:
        raise BadArgument("invalid registry") from exc


# `?registry=` answers by query string, so the hot read routes skip building request.args (werkzeug's MultiDict
# and parse_qsl: a fifth of a cached detail request's Python time). Bounded: a client sending endless distinct
# query strings fills it once and then pays the parse, nothing more.
_REGISTRY_BY_QUERY: dict[str, str] = {}
QUERY_CACHE_ENTRIES = 1024
QUERY_CACHE_LONGEST = 256


def known_query_registry(query: str) -> str | None:
    """`?registry=` read without a request, as query_registry reads it; None when that needs werkzeug's parser
    (or the value is invalid, which the route answers 400).

    The plain form `registry=<slug>` is read here, so it never depends on the bounded cache below (a client that
    filled it with distinct query strings slows nobody's plain requests); any other query string only if it was
    parsed before.
    """
    if not query:
        return ""
    if query.startswith(REGISTRY_QUERY) and not any(c in query for c in "&;%+"):
        # Nothing to percent-decode or split: the value is the rest of the string, as request.args would give it.
        try:
            return registry_arg(query[len(REGISTRY_QUERY) :])
        except BadArgument:
            return None
    return _REGISTRY_BY_QUERY.get(query)


REGISTRY_QUERY = "registry="


def query_registry() -> str:
    """`?registry=` parsed as above."""
    query = request.environ.get("QUERY_STRING", "")
    if not query:
        return ""
    found = _REGISTRY_BY_QUERY.get(query)
    if found is None:
        found = registry_arg(request.args.get("registry"))  # raises (and caches nothing) on an invalid slug
        if len(query) <= QUERY_CACHE_LONGEST and len(_REGISTRY_BY_QUERY) < QUERY_CACHE_ENTRIES:
            _REGISTRY_BY_QUERY[query] = found
    return found


class StrictJSONParser(FlaskParser):
    """webargs' Flask parser with bodies read by `parse_body` (no NaN, lone surrogates or oversized integers)."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        raw = req.get_data(cache=True)
        if not raw:
            return core.missing
        try:
            return parse_body(raw)
        except BadJSON as exc:
            flask_smorest.abort(400, message=f"invalid JSON body: {exc}", messages={"json": [str(exc)]})


class Blueprint(flask_smorest.Blueprint):
    """The blueprint every API module uses, so `@blp.arguments` bodies go through the strict parser."""

    ARGUMENTS_PARSER = StrictJSONParser()
