"""The reference's response documents (contract §4.9, §4.11): list items, profile documents, redaction."""

from __future__ import annotations

from typing import Any

from registry.domain import gojson
from registry.domain.model import (
    WEBCHAT_RUNTIME_KEY,
    Profile,
    Registry,
    encode_metadata,
    encode_profile,
    model_info_of,
    sorted_deep,
)
from registry.domain.runtime_plan import redacted_settings

OAUTH_KEY = "pinocchio.oauth@v1"
_OAUTH_SECRETS = ("access_token", "refresh_token", "client_secret")
REDACTED = "<redacted>"

MOCK_PARITY_SLUG = "mock_parity"
MOCK_PARITY_DISPLAY_NAME = "Mock parity engine"
MOCK_PARITY_DESCRIPTION = "Deterministic web-chat event stream for parity tests; no LLM/API key required."

_MODEL_INFO_FIELDS = (
    "id",
    "name",
    "reasoning",
    "input",
    "context_window",
    "quality_high_watermark",
    "max_output_tokens",
    "cost",
    "metadata",
)


def redact_extensions(extensions: dict[str, Any]) -> dict[str, Any]:
    """A deep copy with OAuth secrets replaced; keys sorted at every level as Go's JSON round-trip emits them."""
    out: dict[str, Any] = sorted_deep(extensions)
    oauth = out.get(OAUTH_KEY)
    if isinstance(oauth, dict):
        for name in _OAUTH_SECRETS:
            if name in oauth:
                oauth[name] = REDACTED
    return out


def redacted_profile(profile: Profile) -> dict[str, Any]:
    """The profile as the store writes it (the reference's field order), with every secret replaced.

    OAuth tokens in extensions and API keys in inference_settings (either spelling: YAML's `api_keys`, Go's
    `APIKeys`) read `<redacted>`; what a page or a diff shows of a stored profile goes through here.
    """
    doc = encode_profile(profile)
    if isinstance(doc.get("inference_settings"), dict):
        doc["inference_settings"] = redacted_settings(doc["inference_settings"])
    if "extensions" in doc:
        doc["extensions"] = redact_extensions(doc["extensions"])
    return doc


def model_info_document(info: dict[str, Any]) -> dict[str, Any]:
    """model_info as the reference serves its ModelInfo struct (gep:pkg/steps/ai/settings/model_info.go).

    Field order is the struct's; keys match case-insensitively; a null field is unset; `input` and `metadata`
    are `omitempty`, so an empty list or map is left out; cost always carries input and output.
    """
    doc: dict[str, Any] = {}
    for name in _MODEL_INFO_FIELDS:
        value = gojson.field(info, name)
        if value is None or (name in ("input", "metadata") and not value):
            continue
        if name == "cost" and isinstance(value, dict):
            value = {"input": gojson.field(value, "input") or 0, "output": gojson.field(value, "output") or 0} | {
                k: gojson.field(value, k) for k in ("cache_read", "cache_write") if gojson.field(value, k)
            }
        elif name == "metadata":
            value = sorted_deep(value)
        doc[name] = value
    return doc


def _runtime_string(value: Any) -> str | None:
    """A Go string field of the runtime: null is unset (""), another type fails the decode (None)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def decode_runtime(profile: Profile) -> dict[str, Any] | None:
    """The profile's own webchat runtime extension, or None if absent or not of the runtime's shape.

    Decoded as Go decodes it into pin:pkg/inference/runtime/profile_runtime.go's ProfileRuntime: keys match
    case-insensitively and `null` anywhere means unset, so `{"id": null, "tools": null}` is a valid runtime.
    """
    value = profile.get("extensions", {}).get(WEBCHAT_RUNTIME_KEY)
    if not isinstance(value, dict):
        return None
    runtime: dict[str, Any] = {}
    prompt = _runtime_string(gojson.field(value, "system_prompt"))
    if prompt is None:
        return None
    if prompt:
        runtime["system_prompt"] = prompt
    middlewares = gojson.field(value, "middlewares")
    if middlewares is not None:
        if not isinstance(middlewares, list):
            return None
        uses = []
        for use in middlewares:
            use = {} if use is None else use
            if not isinstance(use, dict):
                return None
            name, use_id = _runtime_string(gojson.field(use, "name")), _runtime_string(gojson.field(use, "id"))
            enabled, config = gojson.field(use, "enabled"), gojson.field(use, "config")
            if name is None or use_id is None or not isinstance(enabled, (bool, type(None))):
                return None
            if not isinstance(config, (dict, type(None))):
                return None
            item: dict[str, Any] = {"name": name}
            if use_id:
                item["id"] = use_id
            if enabled is not None:
                item["enabled"] = enabled
            if config:
                item["config"] = sorted_deep(config)
            uses.append(item)
        if uses:
            runtime["middlewares"] = uses
    tools = gojson.field(value, "tools")
    if tools is not None:
        if not isinstance(tools, list):
            return None
        names = [_runtime_string(t) for t in tools]
        if any(n is None for n in names):
            return None
        if names:
            runtime["tools"] = names
    return runtime


def list_item(registry_slug: str, registry: Registry, profile: Profile) -> dict[str, Any]:
    """One element of GET /api/chat/profiles."""
    item: dict[str, Any] = {"registry": registry_slug, "slug": profile["slug"]}
    if profile.get("display_name"):
        item["display_name"] = profile["display_name"]
    if profile.get("description"):
        item["description"] = profile["description"]
    runtime = decode_runtime(profile)
    if runtime and runtime.get("system_prompt"):
        item["default_prompt"] = runtime["system_prompt"]
    if profile.get("extensions"):
        item["extensions"] = redact_extensions(profile["extensions"])
    info = model_info_of(profile)
    if info is not None:
        item["model_info"] = model_info_document(info)
    if registry.get("default_profile_slug") == profile["slug"]:
        item["is_default"] = True
    version = profile.get("metadata", {}).get("version")
    if version:
        item["version"] = version
    return item


def profile_document(registry_slug: str, registry: Registry, profile: Profile) -> dict[str, Any]:
    """GET /api/chat/profiles/<slug>: the profile with its runtime decoded and `is_default` always present."""
    doc: dict[str, Any] = {"registry": registry_slug, "slug": profile["slug"]}
    if profile.get("display_name"):
        doc["display_name"] = profile["display_name"]
    if profile.get("description"):
        doc["description"] = profile["description"]
    runtime = decode_runtime(profile)
    if runtime is not None:
        doc["runtime"] = runtime
    doc["metadata"] = encode_metadata(profile.get("metadata", {}))
    if profile.get("extensions"):
        doc["extensions"] = redact_extensions(profile["extensions"])
    info = model_info_of(profile)
    if info is not None:
        doc["model_info"] = model_info_document(info)
    doc["is_default"] = registry.get("default_profile_slug") == profile["slug"]
    return doc


def mock_parity_item(default_registry: str) -> dict[str, Any]:
    """The synthetic list item appended for the default registry."""
    return {
        "registry": default_registry,
        "slug": MOCK_PARITY_SLUG,
        "display_name": MOCK_PARITY_DISPLAY_NAME,
        "description": MOCK_PARITY_DESCRIPTION,
    }


def mock_parity_document(default_registry: str) -> dict[str, Any]:
    """The synthetic detail document, served whatever `?registry=` says."""
    return mock_parity_item(default_registry) | {"metadata": {}, "is_default": False}
