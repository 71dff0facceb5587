"""Registry payloads shared by the API tests: two registries with every field the documents show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import write_row

RUNTIME = {
    "system_prompt": "You are <beta> & friends",
    "middlewares": [{"name": "agentmode", "config": {"default_mode": "reviewer"}}, {"name": "log", "id": "x",
                                                                                   "enabled": False}],
    "tools": ["search"],
}
OAUTH = {"kind": "oauth_bearer", "client_id": "cid", "access_token": "AT", "refresh_token": "RT", "scopes": ["a"]}
MODEL_INFO = {"metadata": {"k": "v"}, "id": "gpt-x", "context_window": 1000, "cost": {"output": 2.5, "input": 1.25},
              "input": ["text"], "reasoning": True}


def default_registry() -> dict[str, Any]:
    """Registry `default`: alpha (the default, bare) and beta (every field)."""
    return {
        "slug": "default",
        "default_profile_slug": "alpha",
        "profiles": {
            "alpha": {"slug": "alpha", "metadata": {}},
            "beta": {
                "slug": "beta",
                "display_name": "Beta",
                "description": "The full one",
                "stack": [{"profile_slug": "alpha"}],
                "inference_settings": {"Chat": {"Engine": "gpt-x", "Temperature": None}, "ModelInfo": MODEL_INFO},
                "metadata": {"source": "api", "version": 3, "created_at_ms": 1, "updated_at_ms": 2, "created_by": "al",
                             "updated_by": "bo"},
                "extensions": {"pinocchio.webchat_runtime@v1": RUNTIME, "pinocchio.oauth@v1": OAUTH},
            },
        },
        "metadata": {"version": 1},
    }


def team_registry() -> dict[str, Any]:
    """Registry `team`: another `beta` and `gamma` (the default)."""
    return {
        "slug": "team",
        "default_profile_slug": "gamma",
        "profiles": {
            "beta": {"slug": "beta", "display_name": "Team beta", "metadata": {}},
            "gamma": {"slug": "gamma", "metadata": {"version": 1},
                      "extensions": {"pinocchio.webchat_runtime@v1": {}}},
        },
        "metadata": {},
    }


def write_registries(path: Path) -> Path:
    """A database with `default` and `team`."""
    write_row(path, "default", default_registry())
    write_row(path, "team", team_registry())
    return path
