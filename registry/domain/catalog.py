"""Middleware definitions and extension schemas: registered once at start, published by the schema routes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from registry.domain.model import parse_extension_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MiddlewareDefinition:
    """A runtime middleware: its name, version, labels and the JSON Schema of its config."""

    name: str
    version: int
    display_name: str
    description: str
    schema: dict[str, Any]


AGENTMODE = MiddlewareDefinition(
    name="agentmode",
    version=1,
    display_name="Agent Mode",
    description="Parses and applies agent-mode switches from model output.",
    schema={
        "additionalProperties": False,
        "description": "Parses and applies agent-mode switches from model output.",
        "properties": {
            "default_mode": {"default": "financial_analyst", "type": "string"},
            "sanitize_yaml": {"default": True, "type": "boolean"},
        },
        "title": "Agent Mode Middleware",
        "type": "object",
    },
)

STARTER_SUGGESTIONS_KEY = "webchat.starter_suggestions@v1"
STARTER_SUGGESTIONS_SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {"items": {"default": [], "items": {"type": "string"}, "type": "array"}},
    "required": ["items"],
    "type": "object",
}


def middleware_config_key(name: str) -> str:
    """The typed extension key that carries a middleware's configured instances."""
    return f"middleware.{name}_config@v1"


def middleware_config_schema(definition: MiddlewareDefinition) -> dict[str, Any]:
    """`{"instances": {<id>: <middleware config>}}`, the shape the runbook's extension keys describe."""
    return {
        "additionalProperties": False,
        "properties": {"instances": {"additionalProperties": definition.schema, "type": "object"}},
        "required": ["instances"],
        "type": "object",
    }


@dataclass
class SchemaCatalog:
    """Both catalogs. Schemas are checked against the JSON Schema meta-schema when registered."""

    middlewares: dict[str, MiddlewareDefinition] = field(default_factory=dict)
    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def register_middleware(self, definition: MiddlewareDefinition) -> None:
        """Add a middleware and its `middleware.<name>_config@v1` extension schema; duplicates are refused."""
        if definition.name in self.middlewares:
            raise ValueError(f"duplicate middleware definition {definition.name!r}")
        Draft202012Validator.check_schema(definition.schema)
        self.middlewares[definition.name] = definition
        self.register_extension(middleware_config_key(definition.name), middleware_config_schema(definition))

    def register_extension(self, key: str, schema: dict[str, Any]) -> None:
        """Add an extension schema under its canonical key; a later registration of the same key wins."""
        Draft202012Validator.check_schema(schema)
        self.extensions[parse_extension_key(key)] = schema

    def middleware_items(self) -> list[dict[str, Any]]:
        """The middleware catalog as the reference publishes it, sorted by name."""
        return [
            {
                "name": d.name,
                "version": d.version if d.version > 0 else 1,
                "display_name": d.display_name or d.schema.get("title") or d.name,
                "description": d.description or d.schema.get("description", ""),
                "schema": d.schema,
            }
            for d in sorted(self.middlewares.values(), key=lambda d: d.name)
        ]

    def extension_items(self) -> list[dict[str, Any]]:
        """The extension catalog, sorted by key."""
        return [{"key": key, "schema": self.extensions[key]} for key in sorted(self.extensions)]

    def problems(self) -> list[str]:
        """What /api/health and the log report about the catalogs (runbook troubleshooting row 5)."""
        issues = []
        if not self.middlewares:
            issues.append("middleware catalog is empty: no middleware definitions were registered")
        if not self.extensions:
            issues.append("extension catalog is empty: no extension schemas were registered")
        return issues


DEFAULT_MIDDLEWARES: tuple[MiddlewareDefinition, ...] = (AGENTMODE,)
DEFAULT_EXTENSIONS: dict[str, dict[str, Any]] = {STARTER_SUGGESTIONS_KEY: STARTER_SUGGESTIONS_SCHEMA}


def default_catalog(
    middlewares: Iterable[MiddlewareDefinition] = DEFAULT_MIDDLEWARES,
    extensions: Mapping[str, dict[str, Any]] = DEFAULT_EXTENSIONS,
) -> SchemaCatalog:
    """The one place definitions are registered at start (arguments exist so a test can start with none)."""
    catalog = SchemaCatalog()
    for definition in middlewares:
        catalog.register_middleware(definition)
    for key, schema in extensions.items():
        catalog.register_extension(key, schema)
    for problem in catalog.problems():
        log.error(problem)
    return catalog
