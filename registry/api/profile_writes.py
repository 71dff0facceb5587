"""Profile writes (`serve --writable`): create, update, delete a profile and make one its registry's default.

The blueprint shares the /api/chat/profiles prefix with the reference's read blueprint (Flask matches the path,
then the method, so GETs still reach the read routes). Every route answers 403 `store is read-only` unless the app
is writable, then 401 without a valid bearer token, both before the body is parsed (write_access.guard_write).
Errors are JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from flask.views import MethodView

from registry.api.common import Blueprint, current_view, dumped, json_body, registry_arg
from registry.api.profiles import profile_document, profile_slug_arg
from registry.api.schemas import ProfileDocumentSchema, ProfileEntry
from registry.api.write_access import (
    EXPECTED_VERSION_PARAM,
    REGISTRY_PARAM,
    SECURITY,
    SOURCE,
    chosen_registry,
    expected_version_query,
    guard_write,
    write_errors,
    writer,
)
from registry.api.write_schemas import DefaultResultSchema, ProfileCreateSchema, ProfilePatchSchema, SetDefaultSchema
from registry.domain.model import parse_profile_slug

blp = Blueprint(
    "admin_profiles", __name__, url_prefix="/api/chat/profiles", description="Profile writes (`serve --writable`)"
)
blp.before_request(guard_write)

DEFAULT_RESULT = DefaultResultSchema()


@blp.route("")
class ProfileCreate(MethodView):
    @blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @blp.arguments(ProfileCreateSchema())
    @blp.response(201, ProfileDocumentSchema)
    @write_errors(blp, 400, 401, 403, 404, 409, 422, 413)
    def post(self, body: dict[str, Any]) -> Response:
        """Create a profile (version 1); the registry's first profile becomes its default."""
        registry_slug = chosen_registry(body)
        result = writer().create_profile(
            registry_slug,
            body,
            actor=g.actor,
            source=SOURCE,
            set_default=bool(body.get("set_default")),
            expected_version=body.get("expected_version"),
        )
        registry = result.after
        assert registry is not None
        slug = parse_profile_slug(body["slug"])  # parsed successfully by the write
        return json_body(profile_document(ProfileEntry(registry_slug, registry, registry["profiles"][slug])), 201)


@blp.route("/<slug>")
class ProfileWrite(MethodView):
    @blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @blp.arguments(ProfilePatchSchema())
    @blp.response(200, ProfileDocumentSchema)
    @write_errors(blp, 400, 401, 403, 404, 409, 422, 413)
    def patch(self, body: dict[str, Any], slug: str) -> Response:
        """Update a profile: given fields replace the stored ones; `extensions` merge by key."""
        profile_slug = profile_slug_arg(slug)
        registry_slug = chosen_registry(body)
        expected = body.pop("expected_version", None)
        result = writer().update_profile(
            registry_slug, profile_slug, body, actor=g.actor, source=SOURCE, expected_version=expected
        )
        registry = result.after
        assert registry is not None
        return json_body(profile_document(ProfileEntry(registry_slug, registry, registry["profiles"][profile_slug])))

    @blp.doc(parameters=[REGISTRY_PARAM, EXPECTED_VERSION_PARAM], security=SECURITY)
    @blp.response(204)
    @write_errors(blp, 400, 401, 403, 404, 409)
    def delete(self, slug: str) -> Response:
        """Delete a profile (`?expected_version=` is the profile's version); refused while others stack on it."""
        profile_slug = profile_slug_arg(slug)
        registry_slug = registry_arg(request.args.get("registry")) or current_view().default_registry
        writer().delete_profile(
            registry_slug, profile_slug, actor=g.actor, source=SOURCE, expected_version=expected_version_query()
        )
        return Response(status=204)


@blp.route("/<slug>/default")
class ProfileSetDefault(MethodView):
    @blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @blp.arguments(SetDefaultSchema())
    @blp.response(200, DefaultResultSchema)
    @write_errors(blp, 400, 401, 403, 404, 409)
    def post(self, body: dict[str, Any], slug: str) -> Response:
        """Make the profile its registry's default (`expected_version` is the registry's version)."""
        profile_slug = profile_slug_arg(slug)
        registry_slug = chosen_registry(body)
        result = writer().set_default(
            registry_slug, profile_slug, actor=g.actor, source=SOURCE, expected_version=body.get("expected_version")
        )
        registry = result.after
        assert registry is not None
        version = int(registry["metadata"].get("version") or 0)
        return dumped(
            DEFAULT_RESULT, {"registry": registry_slug, "default_profile_slug": profile_slug, "version": version}
        )


