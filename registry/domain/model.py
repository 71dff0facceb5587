"""Registries and profiles: slugs, extension keys, decoding a payload and validating it (pure Python).

A registry is handled as a plain dict in the reference's JSON shape (contract §1.5). `decode_registry` turns a
stored payload into a *normalised* dict (slugs trimmed and lowercased, missing maps filled in); the stored text
itself is never rewritten by a read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from registry.domain import gojson
from registry.domain.errors import ExtensionKeyError, SlugError, ValidationError

DEFAULT_REGISTRY_SLUG = "default"
# The typed extension that holds a profile's web-chat runtime (system prompt, middlewares, tools).
WEBCHAT_RUNTIME_KEY = "pinocchio.webchat_runtime@v1"
MAX_STACK_DEPTH = 32

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,126}[a-z0-9])?$")
_EXT_SEGMENT = r"[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?"
_EXT_KEY_RE = re.compile(rf"^({_EXT_SEGMENT})\.({_EXT_SEGMENT})@v([1-9][0-9]{{0,4}})$")

Registry = dict[str, Any]
Profile = dict[str, Any]


_GO_QUOTE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                     "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(raw: str) -> str:
    """Go's `%q` of a string: printable characters (non-ASCII included) kept, the rest escaped."""
    out = []
    for char in raw:
        if char in _GO_QUOTE_ESCAPES:
            out.append(_GO_QUOTE_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _parse_slug(kind: str, raw: str) -> str:
    value = raw.strip().lower()
    if not value:
        raise SlugError(f"{kind} slug cannot be empty")
    if not _SLUG_RE.match(value):
        raise SlugError(f"{kind} slug {go_quote(raw)} is invalid")
    return value


def parse_registry_slug(raw: str) -> str:
    """Normalise a registry slug (trim, lowercase) or raise SlugError with the reference's text."""
    return _parse_slug("registry", raw)


def parse_profile_slug(raw: str) -> str:
    """Normalise a profile slug (trim, lowercase) or raise SlugError with the reference's text."""
    return _parse_slug("profile", raw)


def parse_extension_key(raw: str) -> str:
    """Normalise a typed extension key `namespace.feature@vN` or raise ExtensionKeyError."""
    value = raw.strip().lower()
    if not value:
        raise ExtensionKeyError("extension key cannot be empty")
    if not _EXT_KEY_RE.match(value):
        raise ExtensionKeyError(f"extension key {go_quote(raw)} is invalid (expected namespace.feature@vN)")
    return value


# --- decoding ---------------------------------------------------------------------------------------------


class DecodeError(ValueError):
    """A payload is not a registry in the reference's JSON shape."""


def _decode_slug(kind: str, value: Any, where: str) -> str:
    """A slug-typed field: blank decodes to "", anything else must parse (the reference fails the decode)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected a string, got {type(value).__name__}")
    if not value.strip():
        return ""
    try:
        return _parse_slug(kind, value)
    except SlugError as exc:
        raise DecodeError(str(exc)) from exc


def _decode_str(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _decode_object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DecodeError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _decode_stack(value: Any, where: str) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{where}: expected an array, got {type(value).__name__}")
    refs = []
    for i, item in enumerate(value):
        ref = gojson.folded(_decode_object(item, f"{where}[{i}]") or {})
        refs.append(
            {
                "registry_slug": _decode_slug(
                    "registry", ref.get("registry_slug"), f"{where}[{i}].registry_slug"
                ),
                "profile_slug": _decode_slug(
                    "profile", ref.get("profile_slug"), f"{where}[{i}].profile_slug"
                ),
            }
        )
    return refs


def decode_profile(value: Any, where: str) -> Profile | None:
    """Decode one profile object; None stays None so validation can report it as nil."""
    raw = _decode_object(value, where)
    if raw is None:
        return None
    obj = gojson.folded(raw)  # every field below is one lookup, not one pass over the keys
    return {
        "slug": _decode_slug("profile", obj.get("slug"), f"{where}.slug"),
        "display_name": _decode_str(obj.get("display_name"), f"{where}.display_name"),
        "description": _decode_str(obj.get("description"), f"{where}.description"),
        "stack": _decode_stack(obj.get("stack"), f"{where}.stack"),
        "inference_settings": _decode_object(obj.get("inference_settings"), f"{where}.inference_settings"),
        "metadata": dict(_decode_object(obj.get("metadata"), f"{where}.metadata") or {}),
        "extensions": dict(_decode_object(obj.get("extensions"), f"{where}.extensions") or {}),
    }


def decode_registry(payload: Any) -> Registry:
    """Decode a parsed registry payload into the normalised dict every other module works on."""
    raw = _decode_object(payload, "registry")
    if raw is None:
        raise DecodeError("registry: payload is null")
    obj = gojson.folded(raw)
    profiles_raw = _decode_object(obj.get("profiles"), "registry.profiles") or {}
    profiles: dict[str, Profile | None] = {}
    for key, value in profiles_raw.items():
        slug_key = _decode_slug("profile", key, "registry.profiles key")
        profiles[slug_key] = decode_profile(value, f"registry.profiles[{key}]")
    return {
        "slug": _decode_slug("registry", obj.get("slug"), "registry.slug"),
        "display_name": _decode_str(obj.get("display_name"), "registry.display_name"),
        "description": _decode_str(obj.get("description"), "registry.description"),
        "default_profile_slug": _decode_slug(
            "profile", obj.get("default_profile_slug"), "registry.default_profile_slug"
        ),
        "profiles": profiles,
        "metadata": dict(_decode_object(obj.get("metadata"), "registry.metadata") or {}),
    }


# --- validation (contract §2.4) ---------------------------------------------------------------------------

_MODEL_INFO_NON_NEGATIVE = ("context_window", "quality_high_watermark", "max_output_tokens")


def model_info_of(profile: Profile) -> dict[str, Any] | None:
    """The profile's own model_info, read from snake_case (YAML-born) or PascalCase (Go-written) settings."""
    settings = profile.get("inference_settings")
    if not isinstance(settings, dict):
        return None
    # Go's decoder fills its ModelInfo field from any case of "ModelInfo"; "model_info" is YAML's spelling.
    info = settings["model_info"] if "model_info" in settings else gojson.field(settings, "ModelInfo")
    return info if isinstance(info, dict) else None


def _validate_model_info(info: dict[str, Any]) -> None:
    """ModelInfo.Validate (gep:pkg/steps/ai/settings/model_info.go) on the fields Go decodes; other keys are ignored."""
    field = "profile.inference_settings.model_info"
    for name in _MODEL_INFO_NON_NEGATIVE:
        value = gojson.field(info, name)
        if isinstance(value, (int, float)) and value < 0:
            raise ValidationError(field, f"model_info.{name} must be non-negative")
    window, watermark = gojson.field(info, "context_window"), gojson.field(info, "quality_high_watermark")
    # Both set is enough: a window of 0 with a positive watermark is refused too.
    if isinstance(window, (int, float)) and isinstance(watermark, (int, float)) and watermark > window:
        raise ValidationError(field, "model_info.quality_high_watermark must be <= model_info.context_window")
    cost = gojson.field(info, "cost")
    if isinstance(cost, dict):
        values = [gojson.field(cost, name) for name in ("input", "output", "cache_read", "cache_write")]
        if any(isinstance(v, (int, float)) and v < 0 for v in values):
            raise ValidationError(field, "model_info.cost values must be non-negative")


def validate_profile(profile: Profile | None) -> None:
    """ValidateEngineProfile: first failure wins, in the reference's order."""
    if profile is None:
        raise ValidationError("profile", "must not be nil")
    slug = profile.get("slug") or ""
    if not slug.strip():
        raise ValidationError("profile.slug", "must not be empty")
    try:
        parse_profile_slug(slug)
    except SlugError as exc:
        raise ValidationError("profile.slug", str(exc)) from exc
    for key, value in (profile.get("extensions") or {}).items():
        try:
            parse_extension_key(key)
        except ExtensionKeyError as exc:
            raise ValidationError(f"profile.extensions[{key.strip()}]", str(exc)) from exc
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"profile.extensions[{key}]", f"payload must be JSON-serializable: {exc}") from exc
    info = model_info_of(profile)
    if info is not None:
        _validate_model_info(info)
    for i, ref in enumerate(profile.get("stack") or []):
        raw_profile = ref.get("profile_slug") or ""
        if not raw_profile.strip():
            raise ValidationError(f"profile.stack[{i}].profile_slug", "must not be empty")
        try:
            parse_profile_slug(raw_profile)
        except SlugError as exc:
            raise ValidationError(f"profile.stack[{i}].profile_slug", str(exc)) from exc
        raw_registry = ref.get("registry_slug") or ""
        if raw_registry.strip():
            try:
                parse_registry_slug(raw_registry)
            except SlugError as exc:
                raise ValidationError(f"profile.stack[{i}].registry_slug", str(exc)) from exc


def validate_registry(registry: Registry | None) -> None:
    """ValidateRegistry for one registry, stack refs into other registries allowed unresolved."""
    if registry is None:
        raise ValidationError("registry", "must not be nil")
    slug = registry.get("slug") or ""
    if not slug.strip():
        raise ValidationError("registry.slug", "must not be empty")
    try:
        parse_registry_slug(slug)
    except SlugError as exc:
        raise ValidationError("registry.slug", str(exc)) from exc
    profiles = registry.get("profiles") or {}
    default = registry.get("default_profile_slug") or ""
    if profiles and not default:
        raise ValidationError("registry.default_profile_slug", "must be set when profiles are present")
    # The reference walks a Go map (random order); sorting makes our first reported error deterministic.
    for key in sorted(profiles):
        try:
            parse_profile_slug(key)
        except SlugError as exc:
            raise ValidationError("profile.slug", str(exc)) from exc
        profile = profiles[key]
        if profile is None:
            raise ValidationError(f"registry.profiles[{key}]", "must not be nil")
        validate_profile(profile)
        if profile["slug"] != key:
            raise ValidationError(f"registry.profiles[{key}].slug", "map key and profile slug must match")
    if default:
        try:
            parse_profile_slug(default)
        except SlugError as exc:
            raise ValidationError("registry.default_profile_slug", str(exc)) from exc
        if profiles and default not in profiles:
            raise ValidationError("registry.default_profile_slug", "default profile does not exist in registry")
    validate_stack_topology({slug: registry}, allow_unresolved_external=True)


def validate_stack_topology(
    registries: dict[str, Registry], *, allow_unresolved_external: bool, max_depth: int = MAX_STACK_DEPTH
) -> None:
    """Reject missing targets, cycles and over-deep stacks across the given registries (load-time check order)."""
    done: set[tuple[str, str]] = set()

    def visit(node: tuple[str, str], path: list[tuple[str, str]]) -> None:
        reg_slug, prof_slug = node
        profile = registries[reg_slug]["profiles"][prof_slug]
        for i, ref in enumerate(profile.get("stack") or []):
            field = f"registry.profiles[{prof_slug}].stack[{i}]"
            target_reg = ref.get("registry_slug") or reg_slug
            target = (target_reg, ref["profile_slug"])
            target_registry = registries.get(target_reg)
            if target_registry is None or target[1] not in (target_registry.get("profiles") or {}):
                if target_registry is None and ref.get("registry_slug") and allow_unresolved_external:
                    continue
                raise ValidationError(field, f'referenced profile "{target[1]}" not found in registry "{target_reg}"')
            if target in path:
                chain = path[path.index(target) :] + [target]
                raise ValidationError(field, "stack cycle detected: " + " -> ".join(f"{r}/{p}" for r, p in chain))
            if len(path) + 1 > max_depth:
                walked = " -> ".join(f"{r}/{p}" for r, p in path)
                raise ValidationError(
                    field,
                    f"stack depth exceeds max_depth={max_depth} while traversing {walked} -> {target[0]}/{target[1]}",
                )
            if target not in done:
                visit(target, path + [target])
        done.add(node)

    for reg_slug in sorted(registries):
        for prof_slug in sorted(registries[reg_slug].get("profiles") or {}):
            node = (reg_slug, prof_slug)
            if node not in done:
                visit(node, [node])


# --- encoding (the reference's payload_json bytes, contract §1.5) ------------------------------------------

_METADATA_ORDER = ("source", "version", "created_at_ms", "updated_at_ms", "created_by", "updated_by", "tags")


def sorted_deep(value: Any) -> Any:
    """A copy with every object's keys sorted, as Go emits a `map[string]any` at every level."""
    if isinstance(value, dict):
        return {key: sorted_deep(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sorted_deep(item) for item in value]
    return value


def encode_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Registry or profile metadata in the reference's field order, zero values omitted."""
    return {name: metadata[name] for name in _METADATA_ORDER if metadata.get(name)}


def encode_profile(profile: Profile) -> dict[str, Any]:
    """A profile in Go's field order with its omission rules; inference_settings kept exactly as given."""
    out: dict[str, Any] = {"slug": profile["slug"]}
    for name in ("display_name", "description"):
        if profile.get(name):
            out[name] = profile[name]
    if profile.get("stack"):
        out["stack"] = [
            ({"registry_slug": ref["registry_slug"]} if ref.get("registry_slug") else {})
            | {"profile_slug": ref["profile_slug"]}
            for ref in profile["stack"]
        ]
    if profile.get("inference_settings") is not None:
        out["inference_settings"] = profile["inference_settings"]
    out["metadata"] = encode_metadata(profile.get("metadata") or {})
    if profile.get("extensions"):
        out["extensions"] = sorted_deep(profile["extensions"])
    return out


def encode_registry(registry: Registry) -> dict[str, Any]:
    """A registry as the reference's store writes it into payload_json (before JSON text encoding)."""
    out: dict[str, Any] = {"slug": registry["slug"]}
    for name in ("display_name", "description", "default_profile_slug"):
        if registry.get(name):
            out[name] = registry[name]
    profiles = registry.get("profiles") or {}
    if profiles:
        out["profiles"] = {slug: encode_profile(profiles[slug]) for slug in sorted(profiles)}
    out["metadata"] = encode_metadata(registry.get("metadata") or {})
    return out
