"""Marshmallow schemas of the API bodies; the reference routes write their bytes directly but are documented here."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load

from registry.domain import gojson


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


class ErrorBodySchema(Schema):
    """The JSON error shape (flask-smorest's), also given by reference routes to `Accept: application/json`."""

    code = fields.Integer(required=True)
    status = fields.String(required=True)
    message = fields.String()
    errors = fields.Dict()
    pointer = fields.String(metadata={"description": "422: JSON pointer of the first bad value in the request body"})
    expected_version = fields.Integer(metadata={"description": "409: the version the request expected"})
    actual_version = fields.Integer(metadata={"description": "409: the stored version"})


class CostSchema(Schema):
    input = fields.Float()
    output = fields.Float()
    cache_read = fields.Float()
    cache_write = fields.Float()


class ModelInfoSchema(Schema):
    id = fields.String()
    name = fields.String()
    reasoning = fields.Boolean()
    input = fields.List(fields.String())
    context_window = fields.Integer()
    quality_high_watermark = fields.Integer()
    max_output_tokens = fields.Integer()
    cost = fields.Nested(CostSchema)
    metadata = fields.Dict()


class ProfileListItemSchema(Schema):
    """An element of GET /api/chat/profiles; empty fields are omitted as in the reference."""

    registry = fields.String(required=True)
    slug = fields.String(required=True)
    display_name = fields.String()
    description = fields.String()
    default_prompt = fields.String()
    extensions = fields.Dict(keys=fields.String())
    model_info = fields.Nested(ModelInfoSchema)
    is_default = fields.Boolean(metadata={"description": "present only when true"})
    version = fields.Integer()


class MetadataSchema(Schema):
    source = fields.String()
    version = fields.Integer()
    created_at_ms = fields.Integer()
    updated_at_ms = fields.Integer()
    created_by = fields.String()
    updated_by = fields.String()
    tags = fields.List(fields.String())


class MiddlewareUseSchema(Schema):
    name = fields.String(required=True)
    id = fields.String()
    enabled = fields.Boolean()
    config = fields.Dict()


class RuntimeSchema(Schema):
    system_prompt = fields.String()
    middlewares = fields.List(fields.Nested(MiddlewareUseSchema))
    tools = fields.List(fields.String())


class ProfileDocumentSchema(Schema):
    """GET /api/chat/profiles/<slug>."""

    registry = fields.String(required=True)
    slug = fields.String(required=True)
    display_name = fields.String()
    description = fields.String()
    runtime = fields.Nested(RuntimeSchema)
    metadata = fields.Nested(MetadataSchema, required=True)
    extensions = fields.Dict(keys=fields.String())
    model_info = fields.Nested(ModelInfoSchema)
    is_default = fields.Boolean(required=True)


class CurrentProfileSchema(Schema):
    """Body of GET/POST /api/chat/profile."""

    profile = fields.String(required=True)
    registry = fields.String()


class MiddlewareSchemaItemSchema(Schema):
    name = fields.String(required=True)
    version = fields.Integer(required=True)
    display_name = fields.String()
    description = fields.String()
    schema = fields.Dict(required=True)


class ExtensionSchemaItemSchema(Schema):
    key = fields.String(required=True)
    schema = fields.Dict(required=True)


class QuarantineSchema(Schema):
    slug = fields.String(required=True)
    reason = fields.String(required=True)


class DatabaseHealthSchema(Schema):
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


class HealthSchema(Schema):
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
