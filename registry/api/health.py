"""GET /api/health: ok or degraded, the database settings, quarantined rows and catalog sizes."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView

from registry.api.common import Blueprint, dumped, service
from registry.api.fastdoc import documented_only
from registry.api.schemas import HealthSchema

blp = Blueprint("health", __name__, url_prefix="/api", description="Service health")

HEALTH = HealthSchema()


@blp.route("/health")
class Health(MethodView):
    @documented_only
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="no registry can be read")
    def get(self) -> Response:
        """200 while anything can be served (status ok or degraded), 503 when no registry can be read."""
        status, body = service().health()
        return dumped(HEALTH, body | {"actions": allowed_actions()}, status)


def allowed_actions() -> dict[str, bool]:
    """Which actions the running instance allows (README, "Editing registries"): writes and restore rewrite the
    database, so they need `serve --writable` and a token; taking a snapshot changes no data and needs a token."""
    writable = bool(current_app.config.get("WRITABLE"))
    tokens = bool(current_app.config.get("ADMIN_TOKENS"))
    return {"writes": writable and tokens, "restore": writable and tokens, "backup": tokens}
