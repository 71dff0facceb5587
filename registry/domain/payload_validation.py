"""Schema validation of extension payloads before they are written (the runbook: validate before persistence).

Every extension value whose key is in the extension catalog is checked with jsonschema against that schema; the
middleware configs inside `pinocchio.webchat_runtime@v1` are checked against each middleware's config schema
(the `instances` of `middleware.<name>_config@v1` are covered by that key's catalog schema). Keys the catalog does
not know are left alone. A failure names the JSON pointer of the bad field inside the request body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError

from registry.domain import gojson
from registry.domain.catalog import SchemaCatalog
from registry.domain.errors import ExtensionKeyError, RegistryError
from registry.domain.model import WEBCHAT_RUNTIME_KEY, parse_extension_key
from registry.domain.runtime_merge import canonical_runtime

# The web-chat runtime extension's shape (contract §1.5); its middleware configs are checked one by one below.
RUNTIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "system_prompt": {"type": "string"},
        "middlewares": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "id": {"type": "string"},
                    "enabled": {"type": "boolean"},
                    "config": {"type": ["object", "null"]},
                },
                "required": ["name"],
            },
        },
        "tools": {"type": "array", "items": {"type": "string"}},
    },
}


class PayloadSchemaError(RegistryError):
    """A payload breaks a catalog schema (422); `pointer` locates the first bad field in the request body."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.pointer, self.reason = problems[0]
        super().__init__(f"{self.pointer}: {self.reason}")


def escape_pointer_token(token: str | int) -> str:
    """One JSON-pointer reference token (RFC 6901: `~` -> `~0`, `/` -> `~1`)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(base: str, parts: Iterable[str | int]) -> str:
    """`base` followed by the escaped tokens."""
    return base + "".join("/" + escape_pointer_token(p) for p in parts)


def _error_location(error: SchemaError) -> list[str | int]:
    """The path of the offending field; an unexpected property points at that property, not its parent."""
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = set(schema.get("properties") or {})
        extra = sorted(k for k in error.instance if k not in known)
        if extra:
            path.append(extra[0])
    return path


def _sent_key(obj: Any, name: str | int) -> str | int:
    """The key of `obj` that Go's decoder stores into field `name` (the last one matching), else `name`."""
    if not isinstance(obj, dict) or not isinstance(name, str):
        return name
    return next((key for key in reversed(list(obj)) if gojson.names_field(key, name)), name)


def _sent_path(sent: Any, path: list[str | int]) -> list[str | int]:
    """A path inside the canonical runtime (`middlewares/0/config/x`) with each struct field named as sent.

    Only the runtime's own fields fold case: the first token, and the field of a middleware use after its index;
    keys inside `config` are a map's and stay exact.
    """
    out = list(path)
    if out:
        out[0] = _sent_key(sent, out[0])
    if len(out) >= 3 and path[0] == "middlewares" and isinstance(sent, dict):
        uses = sent.get(out[0])
        index = path[1]
        if isinstance(uses, list) and isinstance(index, int) and 0 <= index < len(uses):
            out[2] = _sent_key(uses[index], out[2])
    return out


def _sort_key(error: SchemaError) -> tuple[str, ...]:
    return tuple(str(p) for p in error.absolute_path)


class PayloadValidator:
    """Compiled validators for one catalog; `check_extensions` raises PayloadSchemaError listing every problem."""

    def __init__(self, catalog: SchemaCatalog) -> None:
        self.catalog = catalog
        self._extensions = {key: Draft202012Validator(schema) for key, schema in catalog.extensions.items()}
        self._middlewares = {name: Draft202012Validator(d.schema) for name, d in catalog.middlewares.items()}
        self._runtime = Draft202012Validator(RUNTIME_SCHEMA)

    def extension_problems(self, extensions: dict[str, Any], base: str) -> list[tuple[str, str]]:
        """(pointer, message) for every schema failure in one profile's extensions; `base` points at the map."""
        problems: list[tuple[str, str]] = []
        for raw_key in sorted(extensions):
            value = extensions[raw_key]
            if value is None:
                continue  # a PATCH deleting the key
            try:
                key = parse_extension_key(raw_key)
            except ExtensionKeyError:
                continue  # reported as a 400 by the profile validation, with the reference's text
            where = pointer(base, [raw_key])
            validator = self._extensions.get(key)
            if validator is not None:
                for error in sorted(validator.iter_errors(value), key=_sort_key):
                    problems.append((pointer(where, _error_location(error)), error.message))
            if key == WEBCHAT_RUNTIME_KEY:
                problems.extend(self._runtime_problems(value, where))
        return problems

    def _runtime_problems(self, sent: Any, where: str) -> list[tuple[str, str]]:
        # Checked as Go decodes it (field names case-insensitive, the later key winning); pointers name the keys
        # as they were sent.
        value = canonical_runtime(sent)
        shape = sorted(self._runtime.iter_errors(value), key=_sort_key)
        if shape:
            return [(pointer(where, _sent_path(sent, _error_location(e))), e.message) for e in shape]
        problems: list[tuple[str, str]] = []
        for i, use in enumerate(value.get("middlewares") or []):
            validator = self._middlewares.get(use["name"])
            if validator is None:
                location = _sent_path(sent, ["middlewares", i, "name"])
                problems.append((pointer(where, location), f'unknown middleware "{use["name"]}"'))
                continue
            config = use.get("config")
            if config is None:
                continue
            for error in sorted(validator.iter_errors(config), key=_sort_key):
                location = _sent_path(sent, ["middlewares", i, "config", *_error_location(error)])
                problems.append((pointer(where, location), error.message))
        return problems

    def check_extensions(self, extensions: dict[str, Any] | None, base: str = "/extensions") -> None:
        """Raise PayloadSchemaError if any catalogued extension value in the map breaks its schema."""
        problems = self.extension_problems(extensions or {}, base)
        if problems:
            raise PayloadSchemaError(problems)

    def check_registry(self, profiles: dict[str, Any] | None, base: str = "/profiles") -> None:
        """Every profile's extensions of a whole-registry payload; pointers name the profile's key as sent."""
        problems: list[tuple[str, str]] = []
        for key in sorted(profiles or {}):
            profile = (profiles or {})[key]
            if isinstance(profile, dict) and isinstance(profile.get("extensions"), dict):
                problems.extend(self.extension_problems(profile["extensions"], pointer(base, [key, "extensions"])))
        if problems:
            raise PayloadSchemaError(problems)
