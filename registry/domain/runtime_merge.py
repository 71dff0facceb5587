"""The web-chat runtime plan (contract §6.3): each lineage profile's runtime extension folded over the base runtime.

Stack resolution (resolve.py) calls `merge_runtime_plan` with the layers base -> leaf; checking the merged
middleware uses against their schemas is runtime_plan.py's job. Pure Python: no Flask, no SQL.
"""

from __future__ import annotations

import copy
from typing import Any

from registry.domain import gojson
from registry.domain.errors import ValidationError
from registry.domain.model import WEBCHAT_RUNTIME_KEY, Profile

DEFAULT_SYSTEM_PROMPT = "You are an assistant"
# The web-chat base runtime always starts with agentmode; profiles replace or extend it.
BASE_MIDDLEWARES: tuple[dict[str, Any], ...] = ({"name": "agentmode"},)


_RUNTIME_FIELDS = ("system_prompt", "middlewares", "tools")
_USE_FIELDS = ("name", "id", "enabled", "config")


def go_fields(value: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The struct fields Go's decoder fills from `value`, under their JSON names; other keys are dropped.

    Keys match a field case-insensitively (`System_Prompt`, `Middlewares`) and a later matching key overwrites an
    earlier one, as encoding/json assigns each key in document order; an explicit `null` is kept (it means unset).
    """
    out: dict[str, Any] = {}
    for key, item in value.items():
        for name in names:
            if gojson.names_field(key, name):
                out[name] = item
    return out


def canonical_runtime(value: Any) -> Any:
    """A runtime extension value with its keys as pin:pkg/inference/runtime/profile_runtime.go decodes them.

    Values that are not of the runtime's shape are returned as they are, for the caller to refuse with a reason.
    """
    if not isinstance(value, dict):
        return value
    runtime = go_fields(value, _RUNTIME_FIELDS)
    if isinstance(runtime.get("middlewares"), list):
        runtime["middlewares"] = [
            go_fields(use, _USE_FIELDS) if isinstance(use, dict) else use for use in runtime["middlewares"]
        ]
    return runtime


def _runtime_extension(profile: Profile) -> dict[str, Any] | None:
    """The profile's own runtime extension, decoded; ValidationError naming the field when it is malformed."""
    extensions = profile.get("extensions") or {}
    if WEBCHAT_RUNTIME_KEY not in extensions:
        return None
    value = canonical_runtime(extensions[WEBCHAT_RUNTIME_KEY])
    where = f"registry.profiles[{profile.get('slug', '')}].extensions[{WEBCHAT_RUNTIME_KEY}]"
    if not isinstance(value, dict):
        raise ValidationError(where, "runtime extension must be an object")
    prompt = value.get("system_prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise ValidationError(where, "system_prompt must be a string")
    middlewares = value.get("middlewares")
    if middlewares is not None and not isinstance(middlewares, list):
        raise ValidationError(where, "middlewares must be an array")
    for i, use in enumerate(middlewares or []):
        if not isinstance(use, dict) or not isinstance(use.get("name"), str) or not use["name"].strip():
            raise ValidationError(where, f"middlewares[{i}].name must be a non-empty string")
        if use.get("id") is not None and not isinstance(use["id"], str):
            raise ValidationError(where, f"middlewares[{i}].id must be a string")
        if use.get("enabled") is not None and not isinstance(use["enabled"], bool):
            raise ValidationError(where, f"middlewares[{i}].enabled must be a boolean")
        if use.get("config") is not None and not isinstance(use["config"], dict):
            raise ValidationError(where, f"middlewares[{i}].config must be an object")
    tools = value.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
        raise ValidationError(where, "tools must be an array of strings")
    return value


def _use_key(use: dict[str, Any]) -> tuple[str, str]:
    return use["name"], use.get("id") or ""


def _normalised_use(use: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": use["name"].strip()}
    if (use.get("id") or "").strip():
        out["id"] = use["id"].strip()
    if use.get("enabled") is not None:
        out["enabled"] = use["enabled"]
    if use.get("config") is not None:
        out["config"] = copy.deepcopy(use["config"])
    return out


def merge_runtime_plan(layers: list[tuple[str, Profile]]) -> dict[str, Any]:
    """Base runtime, then each profile's runtime extension base -> leaf: prompt overrides, middlewares by key,
    tools union."""
    prompt = ""
    middlewares = [dict(use) for use in BASE_MIDDLEWARES]
    tools: list[str] = []
    for _slug, profile in layers:
        ext = _runtime_extension(profile)
        if ext is None:
            continue
        if (ext.get("system_prompt") or "").strip():
            prompt = ext["system_prompt"]
        for raw in ext.get("middlewares") or []:
            use = _normalised_use(raw)
            keys = [_use_key(existing) for existing in middlewares]
            if _use_key(use) in keys:
                middlewares[keys.index(_use_key(use))] = use  # replaced in place, order kept
            else:
                middlewares.append(use)
        for tool in ext.get("tools") or []:
            if tool.strip() and tool.strip() not in tools:
                tools.append(tool.strip())
    return {
        "system_prompt": prompt if prompt.strip() else DEFAULT_SYSTEM_PROMPT,
        "middlewares": middlewares,
        "tools": tools,
    }
