"""Values the reference's documents show (contract §4.9, §4.11): the decoded runtime, redaction, `mock_parity`.

The documents' shape (field order, omission rules) is held by the API's schemas (registry/api/schemas.py)."""

from __future__ import annotations

from typing import Any

from registry.domain import gojson
from registry.domain.model import WEBCHAT_RUNTIME_KEY, Profile, encode_profile, sorted_deep
from registry.domain.runtime_plan import redacted_settings

OAUTH_KEY = "pinocchio.oauth@v1"
_OAUTH_SECRETS = ("access_token", "refresh_token", "client_secret")
REDACTED = "<redacted>"

MOCK_PARITY_SLUG = "mock_parity"
MOCK_PARITY_DISPLAY_NAME = "Mock parity engine"
MOCK_PARITY_DESCRIPTION = "Deterministic web-chat event stream for parity tests; no LLM/API key required."

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


def mock_parity_profile() -> Profile:
    """The synthetic `mock_parity` profile the reference lists in its default registry and serves as a document."""
    return {
        "slug": MOCK_PARITY_SLUG,
        "display_name": MOCK_PARITY_DISPLAY_NAME,
        "description": MOCK_PARITY_DESCRIPTION,
        "stack": [],
        "inference_settings": None,
        "metadata": {},
        "extensions": {},
    }
