"""/api/registries: every registry with its row's updated_at_ms (no token needed), and whole-registry writes
(`serve --writable` and a bearer token, checked before the body is parsed: write_access.guard_write)."""

from __future__ import annotations

from typing import Any

from flask import Response, g
from flask.views import MethodView

from registry.api.common import Blueprint, current_view, dumped, service
from registry.api.write_access import (
    EXPECTED_VERSION_PARAM,
    SECURITY,
    SOURCE,
    expected_version_query,
    guard_write,
    registry_slug_arg,
    write_errors,
    writer,
)
from registry.api.write_schemas import RegistryPutSchema, RegistrySummary, RegistrySummarySchema
from registry.service.writes import registry_from_body

blp = Blueprint("registries", __name__, url_prefix="/api/registries", description="Whole registries")
blp.before_request(guard_write)

SUMMARY = RegistrySummarySchema()
SUMMARIES = RegistrySummarySchema(many=True)


def _writable_labels() -> set[str]:
    return {s.label for s in service().store_sources() if not s.store.read_only}


@blp.route("")
class RegistryList(MethodView):
    @blp.response(200, RegistrySummarySchema(many=True))
    def get(self) -> Response:
        """Every registry of every source, sorted by slug, with the row's `updated_at_ms` (no token needed)."""
        view = current_view()
        writable = _writable_labels()
        items = []
        for slug in sorted({*view.registries, *(q.slug for q in view.quarantined.values())}):
            label = view.source_of.get(slug, "")
            loaded = view.registries.get(slug)
            if loaded is not None:
                items.append(RegistrySummary(slug, loaded.registry, loaded.updated_at_ms, label, label in writable))
                continue
            bad = next(q for q in view.quarantined.values() if q.slug == slug)
            items.append(RegistrySummary(slug, None, bad.updated_at_ms, label, label in writable, bad.reason))
        return dumped(SUMMARIES, items)


@blp.route("/<slug>")
class RegistryWrite(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(RegistryPutSchema())
    @blp.response(200, RegistrySummarySchema)
    @blp.alt_response(201, schema=RegistrySummarySchema, description="created")
    @write_errors(blp, 400, 401, 403, 409, 422, 413)
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
        created = result.before is None and result.quarantine_reason is None
        answer = RegistrySummary(registry_slug, result.after, result.updated_at_ms, label, True)
        return dumped(SUMMARY, answer, 201 if created else 200)

    @blp.doc(parameters=[EXPECTED_VERSION_PARAM], security=SECURITY)
    @blp.response(204)
    @write_errors(blp, 400, 401, 403, 404, 409)
    def delete(self, slug: str) -> Response:
        """Delete a registry; refused while profiles in other registries stack on its profiles."""
        writer().delete_registry(registry_slug_arg(slug), expected_version=expected_version_query())
        return Response(status=204)
