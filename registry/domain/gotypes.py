"""The reference's Go types for every field it decodes from a registry payload, and a checker that applies them.

The Go store decodes each row with encoding/json into typed structs (gep:pkg/engineprofiles/types.go and the
settings structs under gep:pkg/steps/ai/settings) before it validates anything; a value a field cannot hold is a
decode error and the database does not open there. This module writes those types down once. The same check
quarantines a row at load (storage) and refuses a write with 422 and the JSON pointer (service), so the two
answers cannot disagree.

encoding/json rules followed here:
- object keys match a struct field case-insensitively (gojson.names_field); keys matching no field are ignored;
- `null` is accepted everywhere and leaves the field unset;
- an int field takes only an integer literal (`1.5`, `1.0` and `1e3` fail) within its range; uint refuses `-1`;
- a float field takes any number; string, bool, list and map fields take only their JSON kind;
- map keys are exact strings, `any` takes every JSON value.
Most settings structs carry no `json` tags, so their JSON names are the Go field names (`Chat`, `ApiType`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from registry.domain import gojson
from registry.domain.payload_validation import pointer


class GoType:
    """One Go type: `problem` says why a JSON value cannot be decoded into it, or returns None.

    The base class is Go's `any`: it holds every JSON value, but its numbers still become float64, so the
    values inside it are visited too (a number out of float64's range fails there as well).
    """

    @property
    def name(self) -> str:
        return "any"

    def problem(self, value: Any) -> str | None:
        return None

    def children(self, value: Any) -> list[tuple[str, Any, GoType]]:
        """(key as stored, child value, child type) for the values inside `value` that Go decodes further."""
        if isinstance(value, dict):
            return [(k, v, ANY) for k, v in value.items()]
        if isinstance(value, list):
            return [(str(i), v, ANY) for i, v in enumerate(value)]
        return []


class Scalar(GoType):
    """string, bool, an integer kind with its range, or float64."""

    def __init__(self, name: str, kind: str, low: int = 0, high: int = 0) -> None:
        self._name, self.kind, self.low, self.high = name, kind, low, high  # kind: string, bool, int or float

    @property
    def name(self) -> str:
        return self._name

    def problem(self, value: Any) -> str | None:
        if self.kind == "string":
            ok = isinstance(value, str)
        elif self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:  # Python's json gives an int exactly for integer literals, as strconv.ParseInt wants them
            ok = isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
        return None if ok else f"{describe(value)} cannot be decoded into Go {self.name}"


class Slug(GoType):
    """RegistrySlug / EngineProfileSlug: a JSON string (or null).

    Only the kind is checked here; the slug grammar is checked by model.decode_registry and the validation,
    at load and at write alike, with the reference's texts (`profile slug "x y" is invalid`).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "registry" or "profile"

    @property
    def name(self) -> str:
        return "RegistrySlug" if self.kind == "registry" else "EngineProfileSlug"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, str) else f"{describe(value)} cannot be decoded into Go {self.name}"


class ListOf(GoType):
    """A Go slice: a JSON array (a null element is that element's zero value)."""

    def __init__(self, item: GoType) -> None:
        self.item = item

    @property
    def name(self) -> str:
        return f"[]{self.item.name}"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, list) else f"{describe(value)} cannot be decoded into Go {self.name}"

    def children(self, value: Any) -> list[tuple[str, Any, GoType]]:
        return [(str(i), v, self.item) for i, v in enumerate(value)]


class MapOf(GoType):
    """A Go map with string keys: a JSON object whose keys are taken exactly as written."""

    def __init__(self, value: GoType) -> None:
        self.value = value

    @property
    def name(self) -> str:
        return f"map[string]{self.value.name}"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, dict) else f"{describe(value)} cannot be decoded into Go {self.name}"

    def children(self, value: Any) -> list[tuple[str, Any, GoType]]:
        return [(k, v, self.value) for k, v in value.items()]


class Struct(GoType):
    """A Go struct: a JSON object; each key goes to the field it names case-insensitively, other keys are ignored."""

    def __init__(self, name: str, fields: dict[str, GoType], exact_only: frozenset[str] = frozenset()) -> None:
        self._name, self.fields = name, fields
        self.exact_only = exact_only  # names matched only as written (not Go fields, see INFERENCE_SETTINGS)
        # Folded name -> field name, the first field in declaration order winning, as the scan in Go's decoder.
        self._by_folded: dict[str, str] = {}
        for field_name in fields:
            if field_name not in exact_only:
                self._by_folded.setdefault(gojson.fold(field_name), field_name)

    @property
    def name(self) -> str:
        return self._name

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"{describe(value)} cannot be decoded into Go struct {self.name}"
        return duplicate_field_problem(value, self.field_of)

    def field_of(self, key: str) -> str | None:
        """The JSON name of the field the key `key` fills, or None when it fills none (Go ignores it)."""
        # Exact names first, as Go's decoder looks them up; then the case-insensitive match.
        if key in self.fields:
            return key
        return self._by_folded.get(gojson.fold(key))

    def children(self, value: Any) -> list[tuple[str, Any, GoType]]:
        out = []
        for key, child in value.items():
            name = self.field_of(key)
            if name is not None:
                out.append((key, child, self.fields[name]))
        return out


def duplicate_field_problem(value: dict[str, Any], field_of: Any) -> str | None:
    """Why an object whose keys differ only in case (`slug` and `Slug`) is refused, or None.

    Go's decoder assigns both keys to the one field in document order: the later wins for a string or number, but
    two objects are merged (a struct or map is decoded into the value the first key left). Reproducing that
    merge would make one field's value depend on two places of the document that a reader sees as different
    keys, so such a document is refused: quarantined at load, 422 at write (README, decisions).
    """
    seen: dict[str, str] = {}
    for key in value:
        name = field_of(key)
        if name is None:
            continue
        if name in seen:
            return f'the keys "{seen[name]}" and "{key}" both name the field "{name}" (keys differing only in case)'
        seen[name] = key
    return None


ANY = GoType()
STRING = Scalar("string", "string")
BOOL = Scalar("bool", "bool")
FLOAT64 = Scalar("float64", "float")
INT = Scalar("int", "int", -(2**63), 2**63 - 1)  # Go's int is 64 bits on every platform the reference ships for
INT64 = Scalar("int64", "int", -(2**63), 2**63 - 1)
UINT64 = Scalar("uint64", "int", 0, 2**64 - 1)
STRINGS = ListOf(STRING)

# gep:pkg/engineprofiles/types.go: EngineProfileMetadata and RegistryMetadata have the same fields.
METADATA = Struct(
    "Metadata",
    {
        "source": STRING,
        "version": UINT64,
        "created_at_ms": INT64,
        "updated_at_ms": INT64,
        "created_by": STRING,
        "updated_by": STRING,
        "tags": STRINGS,
    },
)

# gep:pkg/steps/ai/settings/model_info.go
MODEL_COST = Struct(
    "ModelCost", {"input": FLOAT64, "output": FLOAT64, "cache_read": FLOAT64, "cache_write": FLOAT64}
)
MODEL_INFO = Struct(
    "ModelInfo",
    {
        "id": STRING,
        "name": STRING,
        "reasoning": BOOL,
        "input": STRINGS,
        "context_window": INT,
        "quality_high_watermark": INT,
        "max_output_tokens": INT,
        "cost": MODEL_COST,
        "metadata": MapOf(ANY),
    },
)

# gep:pkg/steps/ai/settings/settings-inference.go and the structs it holds; no json tags, so Go field names.
INFERENCE_SETTINGS = Struct(
    "InferenceSettings",
    {
        "API": Struct(
            "APISettings",
            {
                "APIKeys": MapOf(STRING),
                "BaseUrls": MapOf(STRING),
                "AllowHTTP": MapOf(BOOL),
                "AllowLocalNetworks": MapOf(BOOL),
            },
        ),
        # settings-chat.go
        "Chat": Struct(
            "ChatSettings",
            {
                "Engine": STRING,
                "ApiType": STRING,
                "MaxResponseTokens": INT,
                "TopP": FLOAT64,
                "Temperature": FLOAT64,
                "Stop": STRINGS,
                "APIKeys": MapOf(STRING),
                "Stream": BOOL,
                "CacheType": STRING,
                "CacheMaxSize": INT64,
                "CacheMaxEntries": INT,
                "CacheDirectory": STRING,
                "StructuredOutputMode": STRING,
                "StructuredOutputName": STRING,
                "StructuredOutputDescription": STRING,
                "StructuredOutputSchema": STRING,
                "StructuredOutputStrict": BOOL,
                "StructuredOutputRequireValid": BOOL,
            },
        ),
        # openai/settings.go
        "OpenAI": Struct(
            "openai.Settings",
            {
                "N": INT,
                "PresencePenalty": FLOAT64,
                "FrequencyPenalty": FLOAT64,
                "LogitBias": MapOf(STRING),
                "ReasoningEffort": STRING,
                "ThinkingType": STRING,
                "ChatReasoningEffort": STRING,
                "ParallelToolCalls": BOOL,
                "ReasoningSummary": STRING,
                "IncludeReasoningEncrypted": BOOL,
                "StreamIncludeUsage": BOOL,
            },
        ),
        # settings-client.go (HTTPClient is `json:"-"`; Timeout is a time.Duration, an int64 of nanoseconds)
        "Client": Struct(
            "ClientSettings",
            {
                "Timeout": INT64,
                "TimeoutSeconds": INT,
                "Organization": STRING,
                "UserAgent": STRING,
                "ProxyURL": STRING,
                "ProxyFromEnvironment": BOOL,
            },
        ),
        "Claude": Struct("claude.Settings", {"TopK": INT, "UserID": STRING}),
        "Gemini": Struct(
            "gemini.Settings",
            {"APIVersion": STRING, "IncludeThoughts": BOOL, "ThinkingBudget": INT, "ThinkingLevel": STRING},
        ),
        "Ollama": Struct(
            "ollama.Settings",
            {
                "Mirostat": INT,
                "MirostatEta": FLOAT64,
                "MirostatTau": FLOAT64,
                "NumCtx": INT,
                "NumGqa": INT,
                "NumGpu": INT,
                "NumThread": INT,
                "RepeatLastN": INT,
                "RepeatPenalty": FLOAT64,
                "Temperature": FLOAT64,
                "Seed": INT,
                "Stop": STRINGS,
                "TfsZ": FLOAT64,
                "NumPredict": INT,
                "TopK": INT,
                "TopP": FLOAT64,
            },
        ),
        # gep:pkg/embeddings/config/settings.go
        "Embeddings": Struct(
            "EmbeddingsConfig",
            {
                "Type": STRING,
                "Engine": STRING,
                "Dimensions": INT,
                "APIKeys": MapOf(STRING),
                "BaseURLs": MapOf(STRING),
                "CacheType": STRING,
                "CacheMaxSize": INT64,
                "CacheMaxEntries": INT,
                "CacheDirectory": STRING,
            },
        ),
        # gep:pkg/rerank/config/settings.go
        "Rerank": Struct(
            "RerankConfig", {"Type": STRING, "Engine": STRING, "MaxRequestBytes": INT64, "MaxResponseBytes": INT64}
        ),
        # gep:pkg/inference/engine/inference_config.go (json tags)
        "Inference": Struct(
            "InferenceConfig",
            {
                "thinking_budget": INT,
                "reasoning_effort": STRING,
                "thinking_type": STRING,
                "reasoning_summary": STRING,
                "temperature": FLOAT64,
                "top_p": FLOAT64,
                "max_response_tokens": INT,
                "stop": STRINGS,
                "seed": INT,
            },
        ),
        "ModelInfo": MODEL_INFO,
        # Not a Go field: YAML's spelling, which this service also reads and serves (README, decisions), so it
        # is held to the same ModelInfo types. An exact key; Go would ignore it, so this only ever refuses more.
        "model_info": MODEL_INFO,
    },
    exact_only=frozenset({"model_info"}),
)

# gep:pkg/engineprofiles/types.go
PROFILE = Struct(
    "EngineProfile",
    {
        "slug": Slug("profile"),
        "display_name": STRING,
        "description": STRING,
        "stack": ListOf(
            Struct("EngineProfileRef", {"registry_slug": Slug("registry"), "profile_slug": Slug("profile")})
        ),
        "inference_settings": INFERENCE_SETTINGS,
        "metadata": METADATA,
        "extensions": MapOf(ANY),
    },
)
REGISTRY = Struct(
    "EngineProfileRegistry",
    {
        "slug": Slug("registry"),
        "display_name": STRING,
        "description": STRING,
        "default_profile_slug": Slug("profile"),
        "profiles": MapOf(PROFILE),
        "metadata": METADATA,
    },
)


def describe(value: Any) -> str:
    """A JSON value the way a decode error names it: its kind and, for scalars, the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the bool {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {json.dumps(value)}"
    if isinstance(value, str):
        text = json.dumps(value if len(value) <= 40 else value[:37] + "...", ensure_ascii=False)
        return f"the string {text}"
    return "an array" if isinstance(value, list) else "an object"


def first_problem(value: Any, go_type: GoType, base: str = "") -> tuple[str, str] | None:
    """(JSON pointer, reason) of the first value, in document order, that `go_type` cannot hold; None if it decodes."""
    # A value's path is kept as (parent's path, key) and spelled as a pointer only for the one value that fails:
    # every write and every changed row at load walk the whole payload, almost always without a problem.
    stack: list[tuple[Any, Any, GoType]] = [(None, value, go_type)]
    while stack:
        path, item, item_type = stack.pop()
        if item is None:
            continue
        if isinstance(item, float) and not math.isfinite(item):
            # Python's json reads NaN, Infinity and 1e999; Go's decoder refuses all three.
            return _spelled(base, path), "the number is not a finite float64"
        reason = item_type.problem(item)
        if reason is not None:
            return _spelled(base, path), reason
        children = item_type.children(item)
        for key, child, child_type in reversed(children):
            stack.append(((path, key), child, child_type))
    return None


def _spelled(base: str, path: Any) -> str:
    """The JSON pointer of a path kept by first_problem as nested (parent's path, key) pairs."""
    keys: list[str] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return pointer(base, reversed(keys))


class GoDecodeError(ValueError):
    """A payload the reference cannot decode; `pointer` locates the value, `reason` says why."""

    def __init__(self, pointer: str, reason: str) -> None:
        self.pointer = pointer
        self.reason = reason
        super().__init__(f"{pointer or '/'}: {reason}")


def check_registry(payload: Any) -> None:
    """Raise GoDecodeError unless the reference's EngineProfileRegistry can hold the registry payload."""
    problem = first_problem(payload, REGISTRY)
    if problem is not None:
        raise GoDecodeError(*problem)
