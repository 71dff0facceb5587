"""Middleware config resolution against catalog schemas (contract §5.3) for a resolved profile's runtime plan.

The plan itself is merged along the stack by registry/domain/runtime_merge.py; `compose_runtime` then checks
every middleware use against the registered definitions, fills schema defaults,
coerces values to the schema's types and computes the runtime fingerprint. Pure Python: no Flask, no SQL.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from typing import Any

from registry.domain.catalog import SchemaCatalog
from registry.domain.errors import RegistryError, ValidationError
from registry.domain.resolve import ResolvedProfile

# The layer name a profile's middleware config is reported under (`source[layer]` in error texts).
PROFILE_SOURCE = "profile[profile]"


class CompositionError(RegistryError):
    """A runtime cannot be composed (unknown middleware, config not matching its schema, no engine)."""


# --- middleware config resolution (§5.3) --------------------------------------------------------------------


def instance_key(use: dict[str, Any], index: int) -> str:
    """`name#id` when the use has an id, else `name[index]`: how errors name one middleware instance."""
    return f"{use['name']}#{use['id']}" if use.get("id") else f"{use['name']}[{index}]"


def _schema_type(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if isinstance(t, str) and t.lower() != "null"), "")
    if isinstance(declared, str) and declared:
        return declared.lower()
    if isinstance(schema.get("properties"), dict):
        return "object"
    if isinstance(schema.get("items"), dict):
        return "array"
    return ""


def _child_schema(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The schema of property `key`, or None when the schema does not allow it."""
    properties = schema.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get(key), dict):
        return properties[key]
    extra = schema.get("additionalProperties")
    if extra is True:
        return {}
    return extra if isinstance(extra, dict) else None


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}


def _coerce(schema: dict[str, Any], value: Any, path: str) -> Any:
    """The value converted to the schema's type (strings parsed), enum checked; ValueError with a reason."""
    kind = _schema_type(schema)
    if kind == "object":
        if not isinstance(value, dict):
            raise ValueError("must be an object")
        out = {}
        for key in sorted(value):
            child = _child_schema(schema, key)
            if child is None:
                raise ValueError(f"path {path}/{_pointer_token(key)} is not allowed by schema")
            out[key] = _coerce(child, value[key], f"{path}/{_pointer_token(key)}")
        for key in sorted(r for r in schema.get("required") or [] if isinstance(r, str)):
            if key not in out:
                child = _child_schema(schema, key) or {}
                if "default" not in child:
                    raise ValueError(f'missing required field "{key}"')
                out[key] = copy.deepcopy(child["default"])
        result: Any = out
    elif kind == "array":
        if not isinstance(value, list):
            raise ValueError("must be an array")
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        result = [_coerce(items, item, f"{path}/{i}") if items else copy.deepcopy(item) for i, item in enumerate(value)]
    elif kind == "string":
        result = (
            value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        )
    elif kind == "boolean":
        if isinstance(value, bool):
            result = value
        elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            result = value.strip().lower() in _TRUE
        else:
            raise ValueError("must be a boolean")
    elif kind == "integer":
        result = _to_int(value)
    elif kind == "number":
        result = _to_float(value)
    else:
        result = copy.deepcopy(value)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and result not in enum:
        raise ValueError(f"must be one of {json.dumps(enum)}")
    return result


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ValueError("must be an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError("must be a number")


def _schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property default, nested objects included (the lowest layer of a config)."""
    out: dict[str, Any] = {}
    for key, child in sorted((schema.get("properties") or {}).items()):
        if not isinstance(child, dict):
            continue
        if "default" in child:
            out[key] = copy.deepcopy(child["default"])
        elif _schema_type(child) == "object":
            nested = _schema_defaults(child)
            if nested:
                out[key] = nested
    return out


def _writes(schema: dict[str, Any], payload: dict[str, Any], base: str) -> list[tuple[str, list[str], dict, Any]]:
    """The leaf writes of one layer's payload, sorted by JSON pointer; ValueError for a path the schema refuses."""
    out: list[tuple[str, list[str], dict, Any]] = []
    for key in sorted(payload):
        path = f"{base}/{_pointer_token(key)}"
        child = _child_schema(schema, key)
        if child is None:
            raise ValueError(f"path {path} is not allowed by schema")
        value = payload[key]
        if _schema_type(child) == "object" and isinstance(value, dict) and value:
            out.extend((p, [key, *keys], s, v) for p, keys, s, v in _writes(child, value, path))
        else:
            out.append((path, [key], child, value))
    return out


def _set(state: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        if not isinstance(state.get(key), dict):
            state[key] = {}
        state = state[key]
    state[keys[-1]] = value


def resolve_middleware_config(schema: dict[str, Any], config: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """Schema defaults < profile config, each written value coerced; CompositionError with key, pointer and layer."""
    state = _schema_defaults(schema)
    try:
        writes = _writes(schema, config or {}, "")
    except ValueError as exc:
        raise CompositionError(
            f"resolve middleware {key}: project middleware payload for source {PROFILE_SOURCE}: {exc}"
        ) from exc
    for path, keys, child, value in writes:
        try:
            _set(state, keys, _coerce(child, value, path))
        except ValueError as exc:
            raise CompositionError(
                f"resolve middleware {key}: coerce middleware payload at {path} from source {PROFILE_SOURCE}: {exc}"
            ) from exc
    try:
        return _coerce(schema, state, "")
    except ValueError as exc:
        raise CompositionError(f"resolve middleware {key}: final middleware config validation failed: {exc}") from exc


# --- composition --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposedRuntime:
    """What a chat run needs: the prompt, resolved middlewares, tools, settings, and the fingerprint."""

    runtime_key: str
    system_prompt: str
    middlewares: list[dict[str, Any]]
    tools: list[str]
    settings: dict[str, Any]
    profile_version: int
    fingerprint: str


def resolve_middlewares(uses: list[dict[str, Any]], catalog: SchemaCatalog) -> list[dict[str, Any]]:
    """Every use (disabled ones too) checked against its definition; configs resolved; order kept."""
    resolved = []
    for i, use in enumerate(uses):
        key = instance_key(use, i)
        definition = catalog.middlewares.get(use["name"])
        if definition is None:
            raise CompositionError(f'resolve middleware {key}: unknown middleware "{use["name"]}"')
        item: dict[str, Any] = {"name": use["name"]}
        if use.get("id"):
            item["id"] = use["id"]
        item["enabled"] = use.get("enabled") is not False
        item["config"] = resolve_middleware_config(definition.schema, use.get("config"), key)
        resolved.append(item)
    return resolved


def redacted_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings safe to show: values of `api.api_keys` and any `*api_key` field replaced by `<redacted>`.

    Key names are matched without case or underscores, so stored Go spellings (`APIKeys`, `OpenAIAPIKey`) are
    caught as well as the snake_case of YAML and of resolved settings.
    """

    def walk(value: Any, key: str = "") -> Any:
        name = key.replace("_", "").lower()
        if isinstance(value, dict):
            if name == "apikeys":
                return {k: "<redacted>" for k in value}
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if name.endswith("apikey") and value:
            return "<redacted>"
        return value

    return walk(settings)


def step_metadata(settings: dict[str, Any]) -> dict[str, Any]:
    """The engine-relevant settings that identify a runtime (never keys); part of the fingerprint."""
    chat = settings.get("chat") or {}
    api = settings.get("api") or {}
    out: dict[str, Any] = {}
    for name, value in (
        ("ai-engine", chat.get("engine")),
        ("ai-api-type", chat.get("api_type")),
        ("ai-base-url", api.get("base_url")),
        ("ai-max-response-tokens", chat.get("max_response_tokens")),
        ("ai-top-p", chat.get("top_p")),
        ("ai-temperature", chat.get("temperature")),
        ("ai-stop", chat.get("stop")),
    ):
        if value is not None:
            out[name] = value
    return out


def fingerprint(
    runtime_key: str, profile_version: int, prompt: str, middlewares: list, tools: list, settings: dict
) -> str:
    """The runtime identity as canonical JSON (same inputs, same text); carries no API key."""
    return json.dumps(
        {
            "profile_version": profile_version,
            "runtime_key": runtime_key,
            "system_prompt": prompt,
            "middlewares": middlewares,
            "tools": tools,
            "step_metadata": step_metadata(settings),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def compose_runtime(resolved: ResolvedProfile, catalog: SchemaCatalog) -> ComposedRuntime:
    """The runtime of a resolved profile: middleware configs resolved, fingerprint computed."""
    plan = resolved.runtime
    middlewares = resolve_middlewares(plan["middlewares"], catalog)
    version = resolved.lineage[-1].version if resolved.lineage else 0
    key = resolved.profile_slug or "default"
    return ComposedRuntime(
        runtime_key=key,
        system_prompt=plan["system_prompt"],
        middlewares=middlewares,
        tools=list(plan["tools"]),
        settings=resolved.settings,
        profile_version=version,
        fingerprint=fingerprint(key, version, plan["system_prompt"], middlewares, plan["tools"], resolved.settings),
    )


# --- the chat path's selection and error texts (contract §4.7) -----------------------------------------------


def chat_error_text(exc: Exception, profile_slug: str) -> str:
    """A resolution failure in the words the reference's chat path uses (always answered with 400)."""
    from registry.domain.errors import ProfileNotFound, RegistryNotFound

    if isinstance(exc, ProfileNotFound):
        return f"profile not found: {profile_slug}" if profile_slug else "profile not found"
    if isinstance(exc, RegistryNotFound):
        return f"registry not found: {exc}"
    if isinstance(exc, ValidationError):
        # The reference wraps the validation error in itself once more.
        return f"{exc}: {exc}"
    return f"profile resolution failed: {exc}"
