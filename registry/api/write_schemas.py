"""The bodies of the admin write API (`serve --writable`): what the profile and registry writes accept, and the
registry summaries and default-change result they answer with.

Request schemas match field names as Go's decoder does (GoFieldsSchema); the response schemas hold the omission
rules of their answers, so the routes hand them domain values, never finished dictionaries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from marshmallow import fields, pre_dump, validate

from registry.api.schemas import Bool, GoFieldsSchema, GoSchema, Int, MetadataSchema, ResponseSchema, Str
from registry.domain.model import Registry

# --- request bodies --------------------------------------------------------------------------------------------


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


# --- answers ---------------------------------------------------------------------------------------------------


class RegistrySummary(NamedTuple):
    """One registry as GET /api/registries and PUT answer it: a loaded row, or a quarantined one (registry None)."""

    slug: str
    registry: Registry | None
    updated_at_ms: int
    source: str
    writable: bool
    quarantined: str | None = None


class RegistrySummarySchema(GoSchema):
    """One registry in GET /api/registries and the answer of PUT: a quarantined row has only slug, updated_at_ms,
    source, writable and the reason; the optional texts are left out when empty."""

    OMITEMPTY = frozenset({"display_name", "description", "default_profile_slug"})

    slug = Str(required=True)
    display_name = Str()
    description = Str()
    default_profile_slug = Str()
    profiles = fields.List(Str(), metadata={"description": "profile slugs, sorted"})
    metadata = fields.Nested(MetadataSchema)
    version = Int(metadata={"description": "metadata.version (0 before the first write)"})
    updated_at_ms = Int(metadata={"description": "the row's updated_at_ms column"})
    source = Str(metadata={"description": "the --profile-registries entry holding it"})
    writable = Bool()
    quarantined = Str(metadata={"description": "why the row is out of service, if it is"})

    @pre_dump
    def _fields_of(self, item: RegistrySummary, **_kwargs: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "slug": item.slug,
            "updated_at_ms": item.updated_at_ms,
            "source": item.source,
            "writable": item.writable,
            "quarantined": item.quarantined,
        }
        if item.registry is not None:
            registry = item.registry
            metadata = registry.get("metadata") or {}
            out |= {name: registry.get(name) for name in self.OMITEMPTY}
            out |= {
                "profiles": sorted(registry["profiles"]),
                "metadata": metadata,
                "version": int(metadata.get("version") or 0),
            }
        return out


class DefaultResultSchema(ResponseSchema):
    """POST /api/chat/profiles/<slug>/default."""

    registry = fields.String(required=True)
    default_profile_slug = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the registry's metadata.version after"})
