"""Marshmallow schemas of the API bodies: they document the API and produce the reference's profile documents.

The profile schemas hold the reference's field order and omission rules; their dumps are encoded by gojson and
cached as bytes once per database generation (registry/api/profiles.py), so a read costs no dump.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from marshmallow import Schema, ValidationError, fields, post_dump, pre_dump, pre_load

from registry.domain import gojson
from registry.domain.documents import decode_runtime, redact_extensions
from registry.domain.model import Profile, Registry, model_info_of, sorted_deep


class GoFieldsSchema(Schema):
    """A request body schema whose field names match as Go's encoding/json matches struct fields.

    A key naming a field exactly goes to it; otherwise the field it names case-insensitively (gojson.names_field);
    two keys reaching one field are refused (422), as a stored row with them is quarantined (README, decisions). A key
    that names no field is left as it is, so marshmallow still refuses it (422). Only field names fold: the keys
    of maps (`extensions`, `profiles`, `inference_settings`) stay exact.
    """

    @pre_load
    def _go_field_names(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = [f.data_key or name for name, f in self.fields.items() if not f.dump_only]
        sent: dict[str, str] = {}
        out: dict[str, Any] = {}
        for key, value in data.items():
            target = key if key in names else next((n for n in names if gojson.names_field(key, n)), key)
            if target in sent:
                # Refused as a stored row with such keys is quarantined (gotypes.duplicate_field_problem).
                raise ValidationError(
                    f'the keys "{sent[target]}" and "{key}" both name the field "{target}" (keys differing only in '
                    "case)",
                    field_name=key,
                )
            sent[target] = key
            out[target] = value
        return out


class ResponseSchema(Schema):
    """An answer dumped from a dictionary the service or storage layer builds (health, snapshots, diffs, errors).

    marshmallow leaves out, without a word, a key its schema does not declare; here such a key fails the dump, so a
    field added below and forgotten in the schema is a failing test, not a field clients never see.
    """

    @pre_dump
    def _every_key_declared(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict):
            declared = {field.attribute or name for name, field in self.dump_fields.items()}
            undeclared = data.keys() - declared
            if undeclared:
                raise ValueError(f"{type(self).__name__} does not declare {sorted(undeclared)}")
        return data


class ErrorBodySchema(ResponseSchema):
    """The JSON error shape (flask-smorest's), also given by reference routes to `Accept: application/json`."""

    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String()
    errors = fields.Dict()
    pointer = fields.String(metadata={"description": "422: JSON pointer of the first bad value in the request body"})
    expected_version = fields.Integer(metadata={"description": "409: the version the request expected"})
    actual_version = fields.Integer(metadata={"description": "409: the stored version"})


class ChatErrorSchema(ResponseSchema):
    """The chat routes' error shape (the reference's `{"error": ...}`)."""

    error = fields.String(required=True)


class _AsDecoded:
    """Dumps a value as the domain decoded it: it already has Go's types, and marshmallow's coercions (`int(3.0)`,
    `float(0)`) would change the bytes the reference writes. The declared class still types the OpenAPI document."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class Str(_AsDecoded, fields.String):
    pass


class Int(_AsDecoded, fields.Integer):
    pass


class Num(_AsDecoded, fields.Float):
    pass


class Bool(_AsDecoded, fields.Boolean):
    pass


class Obj(_AsDecoded, fields.Dict):
    pass


class GoSchema(Schema):
    """A document in a Go struct's shape: fields in declaration order (marshmallow keeps it), which is the struct's.

    A None value is an unset pointer and is left out; the fields named in OMITEMPTY carry Go's `omitempty` tag and
    are left out when empty (false, 0, "", an empty list or map).
    """

    OMITEMPTY: frozenset[str] = frozenset()

    @post_dump
    def _omit(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        omitempty = self.OMITEMPTY
        return {k: v for k, v in data.items() if v is not None and (v or k not in omitempty)}


class CostSchema(GoSchema):
    """ModelInfo.Cost: input and output always, the cache prices when set; keys match case-insensitively."""

    OMITEMPTY = frozenset({"cache_read", "cache_write"})

    input = Num()
    output = Num()
    cache_read = Num()
    cache_write = Num()

    @pre_dump
    def _decode(self, cost: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # A float64 field: unset (absent or null) is 0.
        return {name: gojson.field(cost, name) or 0 for name in self.dump_fields}


class ModelInfoSchema(GoSchema):
    """model_info as the reference serves its ModelInfo struct (gep:pkg/steps/ai/settings/model_info.go).

    Keys match case-insensitively; a null field is unset; `input` and `metadata` are `omitempty`.
    """

    OMITEMPTY = frozenset({"input", "metadata"})

    id = Str()
    name = Str()
    reasoning = Bool()
    input = fields.List(Str())
    context_window = Int()
    quality_high_watermark = Int()
    max_output_tokens = Int()
    cost = fields.Nested(CostSchema)
    metadata = Obj()

    @pre_dump
    def _decode(self, info: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        decoded = {name: gojson.field(info, name) for name in self.dump_fields}
        if not isinstance(decoded["cost"], dict):
            decoded["cost"] = None
        if decoded["metadata"]:
            decoded["metadata"] = sorted_deep(decoded["metadata"])
        # `input` is Go's []string: the list as decoded, not re-typed per element.
        return decoded


class ProfileEntry(NamedTuple):
    """What a profile document is dumped from: the profile and the registry it was found in."""

    registry_slug: str
    registry: Registry
    profile: Profile


def _entry_values(entry: ProfileEntry, runtime: dict[str, Any] | None) -> dict[str, Any]:
    """The values both profile documents show, computed by the domain (decoded, redacted, sorted)."""
    profile = entry.profile
    extensions = profile.get("extensions")
    return {
        "registry": entry.registry_slug,
        "slug": profile["slug"],
        "display_name": profile.get("display_name"),
        "description": profile.get("description"),
        "runtime": runtime,
        "metadata": profile.get("metadata") or {},
        "extensions": redact_extensions(extensions) if extensions else None,
        "model_info": model_info_of(profile),
        "is_default": entry.registry.get("default_profile_slug") == profile["slug"],
    }


class ProfileListItemSchema(GoSchema):
    """An element of GET /api/chat/profiles; empty fields are omitted as in the reference."""

    OMITEMPTY = frozenset({"display_name", "description", "default_prompt", "extensions", "is_default", "version"})

    registry = Str(required=True)
    slug = Str(required=True)
    display_name = Str()
    description = Str()
    default_prompt = Str()
    extensions = Obj(keys=fields.String())
    model_info = fields.Nested(ModelInfoSchema)
    is_default = Bool(metadata={"description": "present only when true"})
    version = Int()

    @pre_dump
    def _values(self, entry: ProfileEntry, **kwargs: Any) -> dict[str, Any]:
        runtime = decode_runtime(entry.profile)
        values = _entry_values(entry, runtime)
        values["default_prompt"] = runtime.get("system_prompt") if runtime else None
        values["version"] = values["metadata"].get("version")
        return values


class MetadataSchema(GoSchema):
    """Registry or profile metadata: every field `omitempty`."""

    source = Str()
    version = Int()
    created_at_ms = Int()
    updated_at_ms = Int()
    created_by = Str()
    updated_by = Str()
    tags = fields.List(Str())

    OMITEMPTY = frozenset(("source", "version", "created_at_ms", "updated_at_ms", "created_by", "updated_by", "tags"))


class MiddlewareUseSchema(GoSchema):
    """A middleware use of the runtime; `enabled` is a *bool (unset is left out, false is written)."""

    OMITEMPTY = frozenset({"id", "config"})

    name = Str(required=True)
    id = Str()
    enabled = Bool()
    config = Obj()


class RuntimeSchema(GoSchema):
    OMITEMPTY = frozenset({"system_prompt", "middlewares", "tools"})

    system_prompt = Str()
    middlewares = fields.List(fields.Nested(MiddlewareUseSchema))
    tools = fields.List(Str())


class ProfileDocumentSchema(GoSchema):
    """GET /api/chat/profiles/<slug>: the runtime decoded (left out if absent or not of its shape), `is_default`
    always present."""

    OMITEMPTY = frozenset({"display_name", "description", "extensions"})

    registry = Str(required=True)
    slug = Str(required=True)
    display_name = Str()
    description = Str()
    runtime = fields.Nested(RuntimeSchema)
    metadata = fields.Nested(MetadataSchema, required=True)
    extensions = Obj(keys=fields.String())
    model_info = fields.Nested(ModelInfoSchema)
    is_default = Bool(required=True)

    @pre_dump
    def _values(self, entry: ProfileEntry, **kwargs: Any) -> dict[str, Any]:
        return _entry_values(entry, decode_runtime(entry.profile))


PROFILE_LIST = ProfileListItemSchema(many=True)
PROFILE_DOCUMENT = ProfileDocumentSchema()


class CurrentProfileSchema(Schema):
    """Body of GET/POST /api/chat/profile."""

    profile = Str(required=True)
    registry = Str()


class MiddlewareSchemaItemSchema(Schema):
    name = Str(required=True)
    version = Int(required=True)
    display_name = Str()
    description = Str()
    schema = Obj(required=True)


class ExtensionSchemaItemSchema(Schema):
    key = Str(required=True)
    schema = Obj(required=True)


CURRENT_PROFILE = CurrentProfileSchema()
MIDDLEWARE_ITEMS = MiddlewareSchemaItemSchema(many=True)
EXTENSION_ITEMS = ExtensionSchemaItemSchema(many=True)


class QuarantineSchema(ResponseSchema):
    slug = fields.String(required=True)
    reason = fields.String(required=True)


class DatabaseHealthSchema(ResponseSchema):
    path = fields.String(metadata={"description": "a SQLite file, or a PostgreSQL DSN without its password"})
    journal_mode = fields.String(metadata={"description": "SQLite only"})
    busy_timeout_ms = fields.Integer(metadata={"description": "SQLite only"})
    read_only = fields.Boolean()
    permission_warnings = fields.List(fields.String())
    settings = fields.Dict(metadata={
        "description": "PostgreSQL only: server_version, schema, change_detection, listener_connected, "
        "listener_reconnects, notifications, loaded_generation, lock_timeout_ms, pool"
    })
    unavailable = fields.String(metadata={"description": "why the database cannot be used now (reads are served "
                                          "from the rows loaded before, writes are refused)"})
    unavailable_since = fields.String(metadata={"description": "since when (UTC, ISO 8601)"})


class HealthSchema(ResponseSchema):
    """GET /api/health."""

    status = fields.String(required=True, metadata={"description": "ok or degraded"})
    database = fields.String()
    journal_mode = fields.String()
    busy_timeout_ms = fields.Integer()
    databases = fields.List(fields.Nested(DatabaseHealthSchema))
    registries = fields.Integer()
    default_registry = fields.String()
    quarantined = fields.List(fields.Nested(QuarantineSchema))
    catalogs = fields.Dict(keys=fields.String(), values=fields.Integer())
    problems = fields.List(fields.String(), metadata={"description": "what makes the status degraded"})
    warnings = fields.List(fields.String(), metadata={"description": "worth knowing, status stays ok"})
    actions = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        metadata={
            "description": "what this instance allows: writes and restore need `serve --writable`, backup a token"
        },
    )
