"""The reference's profile read routes: list, detail, and the registry-scoped `/default` read (contract §4.1-4.3)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response

from registry.api.common import BadArgument, Blueprint, current_view, json_body, known_query_registry, query_registry
from registry.api.fastdoc import documented_only
from registry.api.schemas import (
    PROFILE_DOCUMENT,
    PROFILE_LIST,
    ErrorBodySchema,
    ProfileDocumentSchema,
    ProfileEntry,
    ProfileListItemSchema,
)
from registry.domain import gojson
from registry.domain.documents import MOCK_PARITY_SLUG, mock_parity_profile
from registry.domain.errors import SlugError
from registry.domain.model import parse_profile_slug
from registry.service.chain import ChainView

blp = Blueprint(
    "profiles", __name__, url_prefix="/api/chat/profiles", description="Profiles (the reference's read API)"
)

# Documented rather than parsed by webargs: the reference's texts for a bad value are route-specific.
REGISTRY_PARAM = {"in": "query", "name": "registry", "schema": {"type": "string"}, "required": False}
ERRORS = {"description": "plain text (JSON with `Accept: application/json`)", "schema": ErrorBodySchema}


def profile_slug_arg(raw: str) -> str:
    """The path slug; the reference parses it before anything else (400 `invalid profile slug`)."""
    try:
        return parse_profile_slug(raw)
    except SlugError as exc:
        raise BadArgument("invalid profile slug") from exc


# The keys of the bytes cached on a chain view: the routes below fill them, cached_answer reads them.
def list_key(registry_slug: str) -> str:
    return f"list:{registry_slug}"


def detail_key(registry_slug: str, profile_slug: str) -> str:
    return f"detail:{registry_slug}/{profile_slug}"


MOCK_DETAIL_KEY = "detail:mock"


def list_body(registry_slug: str) -> bytes:
    """The list route's bytes for one view and one `?registry=`, built once per database generation."""
    view = current_view()
    cache_key = list_key(registry_slug)
    cached = view.cache.get(cache_key)
    if isinstance(cached, bytes):
        return cached
    entries = []
    if registry_slug:
        registry = view.registry(registry_slug)
        entries = [ProfileEntry(registry_slug, registry, p) for p in registry["profiles"].values()]
        if registry_slug == view.default_registry:
            entries.append(mock_parity_entry(view))
    else:
        for slug, loaded in view.registries.items():
            entries.extend(ProfileEntry(slug, loaded.registry, p) for p in loaded.registry["profiles"].values())
        entries.append(mock_parity_entry(view))
    # Sorted on the slug alone and stably: equal slugs keep the registries' order.
    entries.sort(key=lambda entry: entry.profile["slug"])
    body = gojson.body(PROFILE_LIST.dump(entries))
    view.cache[cache_key] = body
    return body


# Function views, not MethodViews: these are the hottest routes and the class dispatch adds two layers per call.
@blp.route("", methods=["GET"])
@documented_only
@blp.doc(parameters=[REGISTRY_PARAM])
@blp.response(200, ProfileListItemSchema(many=True))
@blp.alt_response(400, **ERRORS)
@blp.alt_response(404, **ERRORS)
@blp.alt_response(500, **ERRORS)
def profile_list() -> Response:
    """Every profile (or one registry's), sorted by slug, with the synthetic `mock_parity` item."""
    return json_body(list_body(query_registry()))


def mock_parity_entry(view: ChainView) -> ProfileEntry:
    """The synthetic `mock_parity` profile, shown in the default registry (of which it is never the default)."""
    return ProfileEntry(view.default_registry, {}, mock_parity_profile())


def profile_document(entry: ProfileEntry) -> object:
    """The detail document of one profile, dumped by its schema."""
    return PROFILE_DOCUMENT.dump(entry)


def cached_body(view: ChainView, key: str, build: Callable[[], ProfileEntry]) -> Response:
    """A profile document dumped and encoded once per view (database generation); a failed lookup raises and is
    not cached."""
    body = view.cache.get(key)
    if not isinstance(body, bytes):
        body = gojson.body(profile_document(build()))
        view.cache[key] = body
    return json_body(body)


def profile_detail(slug: str) -> Response:
    profile_slug = profile_slug_arg(slug)
    view = current_view()
    if profile_slug == MOCK_PARITY_SLUG:
        return cached_body(view, MOCK_DETAIL_KEY, lambda: mock_parity_entry(view))
    registry_slug = query_registry()

    def build() -> ProfileEntry:
        if registry_slug:
            found, profile = registry_slug, view.profile(registry_slug, profile_slug)
        else:
            found, profile = view.find_profile(profile_slug)
        return ProfileEntry(found, view.registry(found), profile)

    return cached_body(view, detail_key(registry_slug, profile_slug), build)


# strict_slashes=False: the reference also serves `/<slug>/` (contract §4.2).
@blp.route("/<slug>", methods=["GET"], strict_slashes=False)
@documented_only
@blp.doc(parameters=[REGISTRY_PARAM])
@blp.response(200, ProfileDocumentSchema)
@blp.alt_response(400, **ERRORS)
@blp.alt_response(404, **ERRORS)
@blp.alt_response(500, **ERRORS)
def profile_get(slug: str) -> Response:
    """One profile; without `?registry=` the first registry (alphabetically) that holds it."""
    return profile_detail(slug)


@blp.route("/<slug>/default", methods=["GET"])
@documented_only
@blp.doc(parameters=[REGISTRY_PARAM])
@blp.response(200, ProfileDocumentSchema)
@blp.alt_response(400, **ERRORS)
@blp.alt_response(404, **ERRORS)
@blp.alt_response(500, **ERRORS)
def profile_in_default_registry(slug: str) -> Response:
    """The profile `slug` in `?registry=` or the default registry (a read, not a default setter)."""
    profile_slug = profile_slug_arg(slug)
    view = current_view()
    registry_slug = query_registry() or view.default_registry
    return cached_body(
        view,
        detail_key(registry_slug, profile_slug),
        lambda: ProfileEntry(registry_slug, view.registry(registry_slug), view.profile(registry_slug, profile_slug)),
    )


def cached_answer(view: ChainView, path: str, query: str) -> bytes | None:
    """The bytes the list or detail route would answer to `GET path?query`, if the view already holds them.

    None when the request is anything else, its bytes are not cached yet, or its `?registry=` has not been parsed
    before: the route then answers (and fills the cache) as usual. Only a request the route would answer 200 with
    exactly these bytes is a hit: the same slug parsing, the same query reading, the same cache keys.
    """
    registry_slug = known_query_registry(query)
    if registry_slug is None:
        return None
    if path == blp.url_prefix:
        key = list_key(registry_slug)
    else:
        raw = path[len(PROFILE_PATH_PREFIX) :] if path.startswith(PROFILE_PATH_PREFIX) else ""
        # `/<slug>/` and `/<slug>/default` are other routes' business; a non-ASCII path is decoded by werkzeug.
        if not raw or "/" in raw or not raw.isascii():
            return None
        try:
            profile_slug = parse_profile_slug(raw)
        except SlugError:
            return None
        key = MOCK_DETAIL_KEY if profile_slug == MOCK_PARITY_SLUG else detail_key(registry_slug, profile_slug)
    body = view.cache.get(key)
    return body if isinstance(body, bytes) else None


PROFILE_PATH_PREFIX = f"{blp.url_prefix}/"
