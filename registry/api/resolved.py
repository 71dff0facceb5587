"""GET /api/chat/profiles/<slug>/resolved (ours, JSON): lineage, merged settings and runtime plan, nothing run.

The operator's check that a profile "still resolves correctly" after a restore (runbook step 6). Errors are
JSON in flask-smorest's shape even though the path sits beside the reference's plain-text profile routes.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields

from registry.api.common import Blueprint, json_body, key_policy, service
from registry.api.errors import json_error
from registry.api.schemas import Bool, ErrorBodySchema, Int, Num, Obj, Str
from registry.chat.engines.mock_parity import FINGERPRINT as MOCK_FINGERPRINT
from registry.chat.engines.mock_parity import RUNTIME_KEY as MOCK_RUNTIME_KEY
from registry.chat.engines.openai_compat import EngineConfigError, config_from_settings
from registry.domain.api_key_env import ApiKeyEnvPolicy
from registry.domain.documents import MOCK_PARITY_SLUG
from registry.domain.errors import RegistryError, SlugError
from registry.domain.model import parse_profile_slug, parse_registry_slug
from registry.domain.resolve import ResolvedProfile, resolve_profile
from registry.domain.runtime_merge import DEFAULT_SYSTEM_PROMPT
from registry.domain.runtime_plan import CompositionError, compose_runtime, redacted_settings
from registry.web.errors import status_of

blp = Blueprint("resolved", __name__, url_prefix="/api/chat/profiles", description="Resolved profiles (ours)")


class LineageEntrySchema(Schema):
    registry_slug = Str(required=True)
    profile_slug = Str(required=True)
    version = Int(required=True)
    source = Str(required=True)


class ResolvedRuntimeSchema(Schema):
    system_prompt = Str(required=True)
    middlewares = fields.List(Obj(), required=True)
    tools = fields.List(Str(), required=True)


class EngineSchema(Schema):
    kind = Str(required=True, metadata={"description": "mock_parity, openai-compatible or none"})
    url = Str()
    model = Str()
    api_key_env = Str()
    api_key_set = Bool(metadata={"description": "shown only when API_KEY_ENV_ALLOWED allows the name"})
    api_key_env_refused = Str(metadata={"description": "why the name may not be read"})
    timeout_seconds = Num()
    problem = Str()


class ResolvedProfileSchema(Schema):
    """What a chat request with this profile would run with."""

    registry = Str(required=True)
    profile = Str(required=True)
    lineage = fields.List(fields.Nested(LineageEntrySchema), required=True)
    settings = Obj(
        required=True, metadata={"description": "merged inference_settings, snake_case, keys redacted"}
    )
    runtime = fields.Nested(ResolvedRuntimeSchema, required=True)
    runtime_key = Str(required=True)
    fingerprint = Str(required=True)
    engine = fields.Nested(EngineSchema, required=True)


# Dumped per request (whether an API key is set can change between two), with the fields' values kept as built.
RESOLVED = ResolvedProfileSchema()


def engine_summary(settings: dict[str, Any], policy: ApiKeyEnvPolicy) -> dict[str, Any]:
    """Which engine a chat would use, with its endpoint and model; the key's variable name only, never its value."""
    try:
        config = config_from_settings(settings)
    except EngineConfigError as exc:
        return {"kind": "none", "problem": f"engine init failed: {exc}"}
    summary: dict[str, Any] = {"kind": "openai-compatible", "url": config.url, "model": config.model}
    if config.api_key_env:
        summary["api_key_env"] = config.api_key_env
        refusal = policy.refusal(config.api_key_env)
        if refusal:
            # Whether a forbidden variable is set is itself something the profile's author must not learn.
            summary["api_key_env_refused"] = refusal
        else:
            summary["api_key_set"] = bool(os.environ.get(config.api_key_env))
    summary["timeout_seconds"] = config.timeout
    return summary


def resolved_document(resolved: ResolvedProfile) -> dict[str, Any]:
    """The route's body for a resolved profile (middleware configs resolved against their schemas)."""
    composed = compose_runtime(resolved, service().catalog)
    return {
        "registry": resolved.registry_slug,
        "profile": resolved.profile_slug,
        "lineage": [
            {"registry_slug": e.registry_slug, "profile_slug": e.profile_slug, "version": e.version, "source": e.source}
            for e in resolved.lineage
        ],
        "settings": redacted_settings(resolved.settings),
        "runtime": {
            "system_prompt": composed.system_prompt,
            "middlewares": composed.middlewares,
            "tools": composed.tools,
        },
        "runtime_key": composed.runtime_key,
        "fingerprint": composed.fingerprint,
        "engine": engine_summary(resolved.settings, key_policy()),
    }


def mock_document(registry_slug: str) -> dict[str, Any]:
    """`mock_parity` is in no registry: it resolves to the deterministic engine."""
    return {
        "registry": registry_slug,
        "profile": MOCK_PARITY_SLUG,
        "lineage": [],
        "settings": {},
        "runtime": {"system_prompt": DEFAULT_SYSTEM_PROMPT, "middlewares": [], "tools": []},
        "runtime_key": MOCK_RUNTIME_KEY,
        "fingerprint": MOCK_FINGERPRINT,
        "engine": {"kind": MOCK_PARITY_SLUG},
    }


@blp.route("/<slug>/resolved")
class ResolvedProfileView(MethodView):
    @blp.doc(parameters=[{"in": "query", "name": "registry", "schema": {"type": "string"}, "required": False}])
    @blp.response(200, ResolvedProfileSchema)
    @blp.alt_response(400, schema=ErrorBodySchema, description="bad slug, or the stack or runtime does not resolve")
    @blp.alt_response(404, schema=ErrorBodySchema, description="registry or profile not found")
    @blp.alt_response(500, schema=ErrorBodySchema, description="the registry's row is quarantined")
    def get(self, slug: str) -> Response:
        """The profile in `?registry=` (default: the default registry), its stack expanded and merged; nothing runs."""
        try:
            profile_slug = parse_profile_slug(slug)
        except SlugError:
            return json_error(400, "invalid profile slug")
        raw_registry = request.args.get("registry") or ""
        registry_slug = ""
        if raw_registry.strip():
            try:
                registry_slug = parse_registry_slug(raw_registry)
            except SlugError:
                return json_error(400, "invalid registry")
        view = service().chain.view()
        if profile_slug == MOCK_PARITY_SLUG:
            return json_body(RESOLVED.dump(mock_document(registry_slug or view.default_registry)))
        try:
            return json_body(RESOLVED.dump(resolved_document(resolve_profile(view, registry_slug, profile_slug))))
        except CompositionError as exc:
            return json_error(400, str(exc))
        except RegistryError as exc:
            status, message, extra = status_of(exc)
            return json_error(status, message, **extra)
