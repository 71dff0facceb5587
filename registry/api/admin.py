"""The admin write API (on with `serve --writable`): profiles and whole registries, with tokens and versions.

Two blueprints: `admin_profiles` shares the /api/chat/profiles prefix with the reference's read blueprint
(Flask matches the path, then the method, so GETs still reach the read routes), and `registries` serves
/api/registries. Every write route answers 403 `store is read-only` unless the app is writable, then 401
without a valid bearer token; both checks run before the body is parsed. Errors are JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Api
from marshmallow import Schema, fields, validate

from registry.api.common import BadArgument, Blueprint, current_view, json_body, registry_arg, service
from registry.api.profiles import profile_document, profile_slug_arg
from registry.api.schemas import ErrorBodySchema, GoFieldsSchema, MetadataSchema, ProfileDocumentSchema, ProfileEntry
from registry.domain.errors import ReadOnlyStore, SlugError
from registry.domain.model import Registry, parse_profile_slug, parse_registry_slug
from registry.service.writes import RegistryWriter, registry_from_body
from registry.web.app_state import app_state
from registry.web.auth import bearer_actor

SOURCE = "api"  # metadata.source of every write made through this API

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
SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}]

admin_blp = Blueprint(
    "admin_profiles", __name__, url_prefix="/api/chat/profiles", description="Profile writes (`serve --writable`)"
)
registries_blp = Blueprint("registries", __name__, url_prefix="/api/registries", description="Whole registries")


# --- schemas ----------------------------------------------------------------------------------------------------


# `null` is accepted wherever the reference's decoder accepts it (Go leaves the field unset).
class StackRefSchema(GoFieldsSchema):
    registry_slug = fields.String(
        allow_none=True, metadata={"description": "empty: the referencing profile's registry"}
    )
    profile_slug = fields.String(required=True)


class ProfileFieldsSchema(GoFieldsSchema):
    """The editable fields of a profile (reference field names)."""

    display_name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    stack = fields.List(fields.Nested(StackRefSchema))
    inference_settings = fields.Dict(allow_none=True, metadata={"description": "stored exactly as given"})
    extensions = fields.Dict(
        keys=fields.String(),
        metadata={"description": "typed keys `namespace.feature@vN`; catalogued keys are schema-checked (422)"},
    )


class ProfileCreateSchema(ProfileFieldsSchema):
    """POST /api/chat/profiles."""

    registry = fields.String(metadata={"description": "else `?registry=`, else the default registry"})
    slug = fields.String(required=True)
    set_default = fields.Boolean(metadata={"description": "also make it the registry's default"})
    expected_version = fields.Integer(strict=True, validate=validate.Range(min=0))


class ProfilePatchSchema(ProfileFieldsSchema):
    """PATCH /api/chat/profiles/<slug>: given fields replace; `extensions` merge by key, a null value deletes one."""

    registry = fields.String()
    set_default = fields.Boolean()
    expected_version = fields.Integer(
        strict=True, validate=validate.Range(min=0), metadata={"description": "the profile's metadata.version"}
    )


class SetDefaultSchema(GoFieldsSchema):
    """POST /api/chat/profiles/<slug>/default."""

    registry = fields.String()
    expected_version = fields.Integer(
        strict=True, validate=validate.Range(min=0), metadata={"description": "the registry's metadata.version"}
    )


class ProfilePayloadSchema(ProfileFieldsSchema):
    slug = fields.String(allow_none=True, metadata={"description": "defaults to the map key"})
    metadata = fields.Dict(allow_none=True, metadata={"description": "kept as given (the reference's UpsertRegistry)"})


class RegistryPutSchema(GoFieldsSchema):
    """PUT /api/registries/<slug>: the reference's registry payload; the profile map replaces the stored one."""

    slug = fields.String(allow_none=True)
    display_name = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    default_profile_slug = fields.String(allow_none=True)
    profiles = fields.Dict(keys=fields.String(), values=fields.Nested(ProfilePayloadSchema, allow_none=True))
    metadata = fields.Dict(
        allow_none=True, metadata={"description": "ignored when the registry exists (its metadata is kept)"}
    )
    expected_version = fields.Integer(strict=True, validate=validate.Range(min=0))


class RegistrySummarySchema(Schema):
    """One registry in GET /api/registries and the answer of PUT."""

    slug = fields.String(required=True)
    display_name = fields.String()
    description = fields.String()
    default_profile_slug = fields.String()
    profiles = fields.List(fields.String())
    metadata = fields.Nested(MetadataSchema)
    version = fields.Integer()
    updated_at_ms = fields.Integer(metadata={"description": "the row's updated_at_ms column"})
    source = fields.String(metadata={"description": "the --profile-registries entry holding it"})
    writable = fields.Boolean()
    quarantined = fields.String(metadata={"description": "why the row is out of service, if it is"})


class DefaultResultSchema(Schema):
    registry = fields.String(required=True)
    default_profile_slug = fields.String(required=True)
    version = fields.Integer(required=True)


# --- helpers -------------------------------------------------------------------------------------------------------


def writer() -> RegistryWriter:
    """The app's RegistryWriter (built when the blueprint is registered)."""
    return app_state().writer


def guard_write() -> None:
    """403 unless writable, then 401 unless a valid bearer token: before any body parsing."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not current_app.config.get("WRITABLE"):
        raise ReadOnlyStore()
    g.actor = bearer_actor()


admin_blp.before_request(guard_write)
registries_blp.before_request(guard_write)


def register(app: Flask, api: Api) -> None:
    """Register both blueprints and the bearer security scheme (the RegistryWriter is in the app's state)."""
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(admin_blp)
    api.register_blueprint(registries_blp)


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


def summary(slug: str, registry: Registry | None, updated_at_ms: int, label: str, writable: bool) -> dict[str, Any]:
    """A registry's summary (list and PUT answers)."""
    out: dict[str, Any] = {"slug": slug}
    if registry is not None:
        for name in ("display_name", "description", "default_profile_slug"):
            if registry.get(name):
                out[name] = registry[name]
        out["profiles"] = sorted(registry["profiles"])
        out["metadata"] = {k: v for k, v in (registry.get("metadata") or {}).items() if v}
        out["version"] = int((registry.get("metadata") or {}).get("version") or 0)
    out["updated_at_ms"] = updated_at_ms
    out["source"] = label
    out["writable"] = writable
    return out


def _writable_labels() -> set[str]:
    return {s.label for s in service().store_sources() if not s.store.read_only}


# --- profile routes ------------------------------------------------------------------------------------------------


@admin_blp.route("")
class ProfileCreate(MethodView):
    @admin_blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @admin_blp.arguments(ProfileCreateSchema())
    @admin_blp.response(201, ProfileDocumentSchema)
    @admin_blp.alt_response(400, **ERRORS)
    @admin_blp.alt_response(401, **ERRORS)
    @admin_blp.alt_response(403, **ERRORS)
    @admin_blp.alt_response(404, **ERRORS)
    @admin_blp.alt_response(409, **ERRORS)
    @admin_blp.alt_response(422, **ERRORS)
    @admin_blp.alt_response(413, **TOO_LARGE)
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


@admin_blp.route("/<slug>")
class ProfileWrite(MethodView):
    @admin_blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @admin_blp.arguments(ProfilePatchSchema())
    @admin_blp.response(200, ProfileDocumentSchema)
    @admin_blp.alt_response(400, **ERRORS)
    @admin_blp.alt_response(401, **ERRORS)
    @admin_blp.alt_response(403, **ERRORS)
    @admin_blp.alt_response(404, **ERRORS)
    @admin_blp.alt_response(409, **ERRORS)
    @admin_blp.alt_response(422, **ERRORS)
    @admin_blp.alt_response(413, **TOO_LARGE)
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

    @admin_blp.doc(parameters=[REGISTRY_PARAM, EXPECTED_VERSION_PARAM], security=SECURITY)
    @admin_blp.response(204)
    @admin_blp.alt_response(400, **ERRORS)
    @admin_blp.alt_response(401, **ERRORS)
    @admin_blp.alt_response(403, **ERRORS)
    @admin_blp.alt_response(404, **ERRORS)
    @admin_blp.alt_response(409, **ERRORS)
    def delete(self, slug: str) -> Response:
        """Delete a profile (`?expected_version=` is the profile's version); refused while others stack on it."""
        profile_slug = profile_slug_arg(slug)
        registry_slug = registry_arg(request.args.get("registry")) or current_view().default_registry
        writer().delete_profile(
            registry_slug, profile_slug, actor=g.actor, source=SOURCE, expected_version=expected_version_query()
        )
        return Response(status=204)


@admin_blp.route("/<slug>/default")
class ProfileSetDefault(MethodView):
    @admin_blp.doc(parameters=[REGISTRY_PARAM], security=SECURITY)
    @admin_blp.arguments(SetDefaultSchema())
    @admin_blp.response(200, DefaultResultSchema)
    @admin_blp.alt_response(400, **ERRORS)
    @admin_blp.alt_response(401, **ERRORS)
    @admin_blp.alt_response(403, **ERRORS)
    @admin_blp.alt_response(404, **ERRORS)
    @admin_blp.alt_response(409, **ERRORS)
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
        return json_body({"registry": registry_slug, "default_profile_slug": profile_slug, "version": version})


# --- registry routes -------------------------------------------------------------------------------------------------


@registries_blp.route("")
class RegistryList(MethodView):
    @registries_blp.response(200, RegistrySummarySchema(many=True))
    def get(self) -> Response:
        """Every registry of every source, sorted by slug, with the row's `updated_at_ms` (no token needed)."""
        view = current_view()
        writable = _writable_labels()
        items = []
        for slug in sorted({*view.registries, *(q.slug for q in view.quarantined.values())}):
            label = view.source_of.get(slug, "")
            loaded = view.registries.get(slug)
            if loaded is not None:
                items.append(summary(slug, loaded.registry, loaded.updated_at_ms, label, label in writable))
                continue
            bad = next(q for q in view.quarantined.values() if q.slug == slug)
            items.append(summary(slug, None, bad.updated_at_ms, label, label in writable) | {"quarantined": bad.reason})
        return json_body(items)


@registries_blp.route("/<slug>")
class RegistryWrite(MethodView):
    @registries_blp.doc(security=SECURITY)
    @registries_blp.arguments(RegistryPutSchema())
    @registries_blp.response(200, RegistrySummarySchema)
    @registries_blp.alt_response(201, schema=RegistrySummarySchema, description="created")
    @registries_blp.alt_response(400, **ERRORS)
    @registries_blp.alt_response(401, **ERRORS)
    @registries_blp.alt_response(403, **ERRORS)
    @registries_blp.alt_response(409, **ERRORS)
    @registries_blp.alt_response(422, **ERRORS)
    @registries_blp.alt_response(413, **TOO_LARGE)
    def put(self, body: dict[str, Any], slug: str) -> Response:
        """Create or replace a registry (the profile map is replaced wholesale; registry metadata kept)."""
        registry_slug = registry_slug_arg(slug)
        expected = body.pop("expected_version", None)
        raw_profiles = body.get("profiles")
        registry = registry_from_body(registry_slug, body)
        result = writer().put_registry(
            registry, actor=g.actor, source=SOURCE, expected_version=expected, raw_profiles=raw_profiles
        )
        label = current_view().source_of.get(registry_slug, "")
        doc = summary(registry_slug, result.after, result.updated_at_ms, label, True)
        return json_body(doc, 201 if result.before is None and result.quarantine_reason is None else 200)

    @registries_blp.doc(parameters=[EXPECTED_VERSION_PARAM], security=SECURITY)
    @registries_blp.response(204)
    @registries_blp.alt_response(400, **ERRORS)
    @registries_blp.alt_response(401, **ERRORS)
    @registries_blp.alt_response(403, **ERRORS)
    @registries_blp.alt_response(404, **ERRORS)
    @registries_blp.alt_response(409, **ERRORS)
    def delete(self, slug: str) -> Response:
        """Delete a registry; refused while profiles in other registries stack on its profiles."""
        writer().delete_registry(registry_slug_arg(slug), expected_version=expected_version_query())
        return Response(status=204)
