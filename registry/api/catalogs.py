"""GET /api/chat/schemas/middlewares and /extensions: the schema catalogs (contract §5, decisions.md)."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from registry.api.common import Blueprint, json_body, service
from registry.api.fastdoc import documented_only
from registry.api.schemas import (
    EXTENSION_ITEMS,
    MIDDLEWARE_ITEMS,
    ExtensionSchemaItemSchema,
    MiddlewareSchemaItemSchema,
)

blp = Blueprint("schemas", __name__, url_prefix="/api/chat/schemas", description="Schema catalogs")


@blp.route("/middlewares")
class MiddlewareSchemas(MethodView):
    @documented_only
    @blp.response(200, MiddlewareSchemaItemSchema(many=True))
    def get(self) -> Response:
        """Registered middleware definitions with their config schemas, sorted by name."""
        return json_body(MIDDLEWARE_ITEMS.dump(service().catalog.middleware_items()))


@blp.route("/extensions")
class ExtensionSchemas(MethodView):
    @documented_only
    @blp.response(200, ExtensionSchemaItemSchema(many=True))
    def get(self) -> Response:
        """Typed extension keys with their schemas, sorted by key."""
        return json_body(EXTENSION_ITEMS.dump(service().catalog.extension_items()))
