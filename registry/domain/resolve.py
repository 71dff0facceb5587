"""Stack resolution (contract §6.1) and the merge of engine settings (§6.2); pure Python, no SQL or HTTP.

`inference_settings` arrive in two spellings: Go-written rows carry Go field names (`Chat.Engine`, `ModelInfo`,
`Chat.ApiType`, null pointers for unset fields), YAML-born rows carry the YAML tags (`chat.engine`, `model_info`).
Every layer is read into one snake_case view before merging; stored data is never rewritten. The mapping:

- a key that starts with a lower-case letter is already snake_case and kept as is;
- a Go field name is converted word by word (`MaxResponseTokens` -> `max_response_tokens`, `APIKeys` ->
  `api_keys`, `ApiType` -> `api_type`, `TopP` -> `top_p`, `ModelInfo` -> `model_info`), except the names whose
  YAML tag does not follow that rule (`OpenAI` -> `openai`, `TimeoutSeconds` -> `timeout_second`);
- keys inside free-form maps (`api.api_keys`, `api.base_urls`, `openai.logit_bias`, `model_info.metadata`) are
  data, not field names, and are kept verbatim;
- `null` is "unset" and never overrides; nor do empty lists and maps (the reference's YAML form omits them);
  in Go-written layers `false` and `""` are unset too (Go writes them for every non-pointer field it did not set);
- `client.timeout` (seconds in YAML, nanoseconds in Go's JSON) becomes the integer `client.timeout_second`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from registry.domain.errors import ValidationError
from registry.domain.model import MAX_STACK_DEPTH, Profile, Registry
from registry.domain.runtime_merge import merge_runtime_plan


class _HoldsRegistry(Protocol):
    @property
    def registry(self) -> Registry: ...


class RegistryLookup(Protocol):
    """What resolution reads: the service's chain view satisfies it (the domain names no layer above it)."""

    @property
    def registries(self) -> Mapping[str, _HoldsRegistry]: ...

    @property
    def quarantined(self) -> Mapping[str, object]: ...

    @property
    def default_registry(self) -> str: ...

    def registry(self, slug: str) -> Registry: ...

    def profile(self, registry_slug: str, profile_slug: str) -> Profile: ...

    def resolve_input(self, registry_slug: str, profile_slug: str) -> tuple[str, str]: ...


# Go field names whose YAML tag is not the word-by-word snake_case of the name.
_GO_NAME_EXCEPTIONS = {"OpenAI": "openai", "TimeoutSeconds": "timeout_second"}
# Maps whose keys are data (API types, token ids, free metadata), never field names.
_OPAQUE_MAPS = {("api", "api_keys"), ("api", "base_urls"), ("openai", "logit_bias"), ("model_info", "metadata")}
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@dataclass(frozen=True)
class LineageEntry:
    """One layer of a resolved stack: which profile, its version and where it came from."""

    registry_slug: str
    profile_slug: str
    version: int
    source: str


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile with its stack expanded: lineage base -> leaf, merged settings, merged web-chat runtime plan."""

    registry_slug: str
    profile_slug: str
    lineage: list[LineageEntry]
    settings: dict[str, Any]
    runtime: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)


def snake_key(name: str) -> str:
    """The YAML tag for a Go field name; snake_case names come back unchanged."""
    if not name[:1].isupper():
        return name
    if name in _GO_NAME_EXCEPTIONS:
        return _GO_NAME_EXCEPTIONS[name]
    return _WORD_BOUNDARY.sub("_", name).lower()


def _is_unset(value: Any, go_written: bool) -> bool:
    if value is None or value == [] or value == {}:
        return True
    return go_written and (value is False or value == "")


def _snake_view(value: dict[str, Any], parent: str = "") -> dict[str, Any]:
    """One layer's settings as a snake_case dict with unset values dropped (see the module docstring)."""
    out: dict[str, Any] = {}
    for raw_key, raw_value in value.items():
        key = snake_key(raw_key)
        go_written = key != raw_key
        if isinstance(raw_value, dict):
            if (parent, key) in _OPAQUE_MAPS:
                item: Any = {k: copy.deepcopy(v) for k, v in raw_value.items() if v is not None}
            else:
                item = _snake_view(raw_value, key)
        else:
            item = copy.deepcopy(raw_value)
        if _is_unset(item, go_written):
            continue
        if parent == "client" and key == "timeout" and isinstance(item, (int, float)) and not isinstance(item, bool):
            # Go's JSON holds a time.Duration in nanoseconds, the YAML form holds seconds.
            out.setdefault("timeout_second", int(item // 1_000_000_000) if go_written else int(item))
            continue
        if isinstance(item, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], item)  # a layer holding both `Chat` and `chat`
        else:
            out[key] = item
    return out


def settings_view(settings: dict[str, Any] | None) -> dict[str, Any]:
    """A profile's own inference_settings in the snake_case view (empty when it has none)."""
    return _snake_view(settings) if isinstance(settings, dict) else {}


def deep_merge(base: dict[str, Any], overlay: dict[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Maps merge recursively, lists and scalars are replaced; `model_info.cost` is replaced as a whole."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and here != ("model_info", "cost"):
            out[key] = deep_merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _stack_field(profile_slug: str, index: int) -> str:
    return f"registry.profiles[{profile_slug}].stack[{index}]"


def _lookup_ref(view: RegistryLookup, registry_slug: str, profile_slug: str, field_name: str) -> Profile:
    """A stack target; a missing registry or profile is a ValidationError on the ref (resolve-time wording)."""
    loaded = view.registries.get(registry_slug)
    if loaded is None:
        if registry_slug in view.quarantined:
            view.registry(registry_slug)  # raises RegistryQuarantined with the row's reason
        raise ValidationError(field_name, f'referenced registry "{registry_slug}" not found')
    profile = loaded.registry["profiles"].get(profile_slug)
    if profile is None:
        raise ValidationError(
            field_name, f'referenced profile "{profile_slug}" not found in registry "{registry_slug}"'
        )
    return profile


def expand_stack(
    view: RegistryLookup, registry_slug: str, profile_slug: str, max_depth: int = MAX_STACK_DEPTH
) -> list[tuple[str, Profile]]:
    """Depth-first, post-order, first occurrence wins: the layers base -> leaf as (registry slug, profile)."""
    root = view.profile(registry_slug, profile_slug)
    layers: list[tuple[str, Profile]] = []
    seen: set[tuple[str, str]] = set()

    def visit(node: tuple[str, str], profile: Profile, path: list[tuple[str, str]]) -> None:
        for i, ref in enumerate(profile.get("stack") or []):
            field_name = _stack_field(node[1], i)
            target = (ref.get("registry_slug") or node[0], ref["profile_slug"])
            # Resolve time checks depth before the cycle (load-time validation does the opposite).
            if len(path) + 1 > max_depth:
                walked = " -> ".join(f"{r}/{p}" for r, p in path)
                raise ValidationError(
                    field_name,
                    f"stack depth exceeds max_depth={max_depth} while traversing {walked} -> {target[0]}/{target[1]}",
                )
            if target in path:
                chain = path[path.index(target) :] + [target]
                raise ValidationError(field_name, "stack cycle detected: " + " -> ".join(f"{r}/{p}" for r, p in chain))
            child = _lookup_ref(view, target[0], target[1], field_name)
            if target not in seen:
                visit(target, child, [*path, target])
        if node not in seen:
            seen.add(node)
            layers.append((node[0], profile))

    visit((registry_slug, profile_slug), root, [(registry_slug, profile_slug)])
    return layers


def _source_of(profile: Profile, registry: Registry) -> str:
    return str((profile.get("metadata") or {}).get("source") or (registry.get("metadata") or {}).get("source") or "")


def _version_of(profile: Profile) -> int:
    version = (profile.get("metadata") or {}).get("version") or 0
    return int(version) if isinstance(version, (int, float)) else 0


def resolve_profile(view: RegistryLookup, registry_slug: str, profile_slug: str) -> ResolvedProfile:
    """Select (empty registry = the default registry; empty profile = its default), expand the stack and merge.

    Raises ValidationError, ProfileNotFound, RegistryNotFound or RegistryQuarantined.
    """
    registry_slug, profile_slug = view.resolve_input(registry_slug or view.default_registry, profile_slug)
    layers = expand_stack(view, registry_slug, profile_slug)
    lineage: list[LineageEntry] = []
    settings: dict[str, Any] = {}
    for reg_slug, profile in layers:
        registry = view.registry(reg_slug)
        lineage.append(LineageEntry(reg_slug, profile["slug"], _version_of(profile), _source_of(profile, registry)))
        settings = deep_merge(settings, settings_view(profile.get("inference_settings")))
    runtime = merge_runtime_plan(
        [(entry.profile_slug, profile) for entry, (_, profile) in zip(lineage, layers, strict=True)]
    )
    leaf = lineage[-1]
    metadata = {
        "profile.registry": registry_slug,
        "profile.slug": profile_slug,
        "profile.version": leaf.version,
        "profile.source": leaf.source,
        "profile.stack.lineage": [f"{e.registry_slug}/{e.profile_slug}" for e in lineage],
    }
    return ResolvedProfile(registry_slug, profile_slug, lineage, settings, runtime, metadata)
