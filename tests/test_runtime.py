"""The web-chat runtime plan merged over the lineage (contract §6.3) and middleware configs resolved against their
schemas (§5.3), checked through GET /api/chat/profiles/<slug>/resolved and the chat message route."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import registry_payload, write_row

from registry.domain.catalog import MiddlewareDefinition
from registry.domain.runtime_merge import merge_runtime_plan
from registry.web.app_state import app_state

RUNTIME_KEY = "pinocchio.webchat_runtime@v1"
EXTRA = MiddlewareDefinition(
    name="extra",
    version=1,
    display_name="Extra",
    description="A test middleware with typed fields.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "threshold": {"type": "integer", "default": 5},
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "verbose": {"type": "boolean"},
            "ratio": {"type": "number"},
        },
        "required": ["mode"],
    },
)


def runtime(**fields: Any) -> dict[str, Any]:
    return {"extensions": {RUNTIME_KEY: fields}}


@pytest.fixture
def serve(make_app, tmp_path):
    """An app on one database holding registry `default` with the given profiles; `extra` is registered."""

    def build(profiles: dict[str, dict[str, Any]], default: str):
        db = tmp_path / "profiles.db"
        write_row(db, "default", registry_payload("default", profiles, default=default))
        app = make_app(db)
        app_state(app).service.catalog.register_middleware(EXTRA)
        return app.test_client()

    return build


def plan_of(client, slug: str) -> dict[str, Any]:
    response = client.get(f"/api/chat/profiles/{slug}/resolved")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["runtime"]


def errors_of(client, slug: str) -> tuple[str, str]:
    """The message of the resolved route (400 JSON) and of the chat route (400 {"error"})."""
    resolved = client.get(f"/api/chat/profiles/{slug}/resolved")
    chat = client.post("/api/chat/sessions/s/messages", json={"prompt": "hi", "profile": slug})
    assert (resolved.status_code, chat.status_code) == (400, 400)
    return resolved.get_json()["message"], chat.get_json()["error"]


AGENTMODE_DEFAULTS = {
    "name": "agentmode",
    "enabled": True,
    "config": {"default_mode": "financial_analyst", "sanitize_yaml": True},
}


def test_a_profile_without_runtime_gets_agentmode_and_the_default_prompt(serve):
    client = serve({"plain": {}}, "plain")
    assert plan_of(client, "plain") == {
        "system_prompt": "You are an assistant",
        "middlewares": [AGENTMODE_DEFAULTS],
        "tools": [],
    }


def test_runtime_merge_prompt_middlewares_in_place_and_tools_union(serve):
    client = serve(
        {
            "base": runtime(
                system_prompt="Base prompt",
                middlewares=[{"name": "extra", "id": "one", "config": {"mode": "fast"}}],
                tools=["search", " "],
            ),
            "middle": {"stack": [{"profile_slug": "base"}]} | runtime(system_prompt="Middle prompt", tools=["search"]),
            "leaf": {"stack": [{"profile_slug": "middle"}]}
            | runtime(
                system_prompt="   ",
                middlewares=[
                    {"name": "extra", "id": "two", "config": {"mode": "slow"}},
                    {"name": "agentmode", "config": {"default_mode": "reviewer"}},
                    {"name": "extra", "id": "one", "enabled": False, "config": {"mode": "slow", "threshold": 9}},
                ],
                tools=["fetch", "search"],
            ),
        },
        "leaf",
    )
    assert plan_of(client, "leaf") == {
        "system_prompt": "Middle prompt",  # a blank prompt never overrides
        "middlewares": [
            # agentmode stays first (base runtime) though the leaf configured it last; extra#one replaced in place.
            {"name": "agentmode", "enabled": True, "config": {"default_mode": "reviewer", "sanitize_yaml": True}},
            {"name": "extra", "id": "one", "enabled": False, "config": {"mode": "slow", "threshold": 9}},
            {"name": "extra", "id": "two", "enabled": True, "config": {"mode": "slow", "threshold": 5}},
        ],
        "tools": ["search", "fetch"],
    }


def test_merge_runtime_plan_without_layers_is_the_base_runtime():
    assert merge_runtime_plan([]) == {
        "system_prompt": "You are an assistant",
        "middlewares": [{"name": "agentmode"}],
        "tools": [],
    }


def test_config_values_are_coerced_to_the_schema_types_with_defaults_filled(serve):
    client = serve(
        {
            "p": runtime(
                middlewares=[
                    {"name": "extra", "config": {"threshold": "7", "verbose": "true", "ratio": "0.5", "mode": "fast"}},
                    {"name": "extra", "id": "b", "config": {"threshold": 3.0, "verbose": False, "mode": "slow"}},
                ]
            )
        },
        "p",
    )
    middlewares = plan_of(client, "p")["middlewares"]
    assert middlewares[1]["config"] == {"threshold": 7, "verbose": True, "ratio": 0.5, "mode": "fast"}
    assert middlewares[2]["config"] == {"threshold": 3, "verbose": False, "mode": "slow"}
    assert isinstance(middlewares[2]["config"]["threshold"], int)


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (
            {"name": "extra", "config": {"threshold": "many", "mode": "fast"}},
            "resolve middleware extra[1]: coerce middleware payload at /threshold from source "
            "profile[profile]: must be an integer",
        ),
        (
            {"name": "extra", "id": "x", "config": {"mode": "medium"}},
            "resolve middleware extra#x: coerce middleware payload at /mode from source profile[profile]: must "
            'be one of ["fast", "slow"]',
        ),
        (
            {"name": "extra", "config": {"threshold": 1}},
            'resolve middleware extra[1]: final middleware config validation failed: missing required field "mode"',
        ),
        (
            {"name": "extra", "config": {"mode": "fast", "bogus": 1}},
            "resolve middleware extra[1]: project middleware payload for source profile[profile]: path /bogus "
            "is not allowed by schema",
        ),
        ({"name": "nope"}, 'resolve middleware nope[1]: unknown middleware "nope"'),
        ({"name": "nope", "enabled": False}, 'resolve middleware nope[1]: unknown middleware "nope"'),
    ],
)
def test_bad_middleware_configs_name_the_instance_the_pointer_and_the_layer(serve, use, message):
    client = serve({"p": runtime(middlewares=[use])}, "p")
    assert errors_of(client, "p") == (message, message)


def test_agentmode_config_is_checked_against_its_published_schema(serve):
    client = serve({"p": runtime(middlewares=[{"name": "agentmode", "config": {"sanitize_yaml": "maybe"}}])}, "p")
    message = (
        "resolve middleware agentmode[0]: coerce middleware payload at /sanitize_yaml from source "
        "profile[profile]: must be a boolean"
    )
    assert errors_of(client, "p") == (message, message)


def test_a_malformed_runtime_extension_is_a_validation_error(serve):
    client = serve({"p": runtime(middlewares="agentmode")}, "p")
    message = (
        "validation error (registry.profiles[p].extensions[pinocchio.webchat_runtime@v1]): middlewares must be an array"
    )
    assert errors_of(client, "p") == (message, f"{message}: {message}")


def test_the_fingerprint_identifies_the_runtime_but_never_holds_the_api_key(serve, monkeypatch):
    monkeypatch.setenv("TEST_CHAT_API_KEY", "sk-never-show-me")
    settings = {
        "api": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "TEST_CHAT_API_KEY"},
        "chat": {"engine": "m"},
    }
    client = serve({"p": {"inference_settings": settings} | runtime(system_prompt="P")}, "p")
    response = client.get("/api/chat/profiles/p/resolved")
    text = response.get_data(as_text=True)
    assert "sk-never-show-me" not in text
    body = response.get_json()
    assert body["engine"] == {
        "kind": "openai-compatible",
        "url": "http://127.0.0.1:9/v1/chat/completions",
        "model": "m",
        "api_key_env": "TEST_CHAT_API_KEY",
        "api_key_set": True,
        "timeout_seconds": 60.0,
    }
    assert '"system_prompt":"P"' in body["fingerprint"] and '"ai-engine":"m"' in body["fingerprint"]
    assert body["runtime_key"] == "p"
    assert client.get("/api/chat/profiles/p/resolved").get_json()["fingerprint"] == body["fingerprint"]


def test_runtime_extension_keys_match_case_insensitively_like_gos_decoder(serve):
    """pin:pkg/inference/runtime/profile_runtime.go is decoded by encoding/json: `System_Prompt`, `Middlewares`,
    `Name`, `ID`, `Enabled`, `Config` and `TOOLS` fill the same fields as their lowercase JSON names (they used
    to be ignored: the default prompt, agentmode alone and no tools), and a later matching key wins."""
    lower = runtime(
        system_prompt="P",
        middlewares=[{"name": "extra", "id": "x", "enabled": False, "config": {"mode": "fast"}}],
        tools=["t"],
    )
    cased = {
        "extensions": {
            RUNTIME_KEY: {
                "system_prompt": "ignored: the later key below wins",
                "System_Prompt": "P",
                "Middlewares": [{"Name": "extra", "ID": "x", "Enabled": False, "CONFIG": {"mode": "fast"}}],
                "TOOLS": ["t"],
            }
        }
    }
    client = serve({"lower": lower, "cased": cased}, "lower")
    expected = plan_of(client, "lower")
    assert expected["system_prompt"] == "P" and expected["tools"] == ["t"]
    assert plan_of(client, "cased") == expected


def test_a_malformed_runtime_extension_under_another_case_is_still_refused(serve):
    client = serve({"p": {"extensions": {RUNTIME_KEY: {"MIDDLEWARES": "agentmode"}}}}, "p")
    message = (
        "validation error (registry.profiles[p].extensions[pinocchio.webchat_runtime@v1]): middlewares must be an array"
    )
    assert errors_of(client, "p") == (message, f"{message}: {message}")
