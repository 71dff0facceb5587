"""Stack resolution and settings merge (contract §6.1, §6.2), checked through GET /api/chat/profiles/<slug>/resolved
and the chat path, on real database files written the way an operator or the Go reference would write them."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from conftest import registry_payload, write_row

from registry.domain.resolve import deep_merge, resolve_profile, settings_view, snake_key
from registry.web.app_state import app_state


def ref(target: str) -> dict[str, str]:
    """`reg/profile` or `profile` as a stack ref."""
    registry, _, profile = target.rpartition("/")
    return ({"registry_slug": registry} if registry else {}) | {"profile_slug": profile}


def prof(*stack: str, settings: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A profile body for registry_payload()."""
    body: dict[str, Any] = dict(extra)
    if stack:
        body["stack"] = [ref(s) for s in stack]
    if settings is not None:
        body["inference_settings"] = settings
    return body


def resolved(client, slug: str, registry: str | None = None):
    query = f"?registry={registry}" if registry is not None else ""
    return client.get(f"/api/chat/profiles/{slug}/resolved{query}")


def lineage(response) -> list[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [f"{e['registry_slug']}/{e['profile_slug']}" for e in response.get_json()["lineage"]]


def chat_error(client, profile: str, registry: str = "") -> tuple[int, str]:
    response = client.post(
        "/api/chat/sessions/s1/messages", json={"prompt": "hi", "profile": profile, "registry": registry}
    )
    return response.status_code, response.get_json()["error"]


@pytest.fixture
def client_for(make_app, tmp_path):
    """Write registries into one database file and return a test client of an app serving it."""

    def build(*registries: dict[str, Any]):
        db = tmp_path / "profiles.db"
        for payload in registries:
            write_row(db, payload["slug"], payload)
        return make_app(db).test_client()

    return build


def test_linear_stack_lists_bases_before_the_leaf(client_for):
    client = client_for(
        registry_payload(
            "default",
            {"agent": prof("model-gpt4o"), "model-gpt4o": prof("provider-openai"), "provider-openai": prof()},
            default="agent",
        )
    )
    assert lineage(resolved(client, "agent")) == ["default/provider-openai", "default/model-gpt4o", "default/agent"]


def test_fan_in_keeps_the_first_occurrence_only(client_for):
    client = client_for(
        registry_payload(
            "default",
            {
                "agent": prof("model-a", "model-b", "provider"),
                "model-a": prof("provider"),
                "model-b": prof("provider"),
                "provider": prof(),
            },
            default="agent",
        )
    )
    assert lineage(resolved(client, "agent")) == [
        "default/provider",
        "default/model-a",
        "default/model-b",
        "default/agent",
    ]


def test_cross_registry_reference_resolves_into_the_other_registry(client_for):
    client = client_for(
        registry_payload("default", {"agent": prof("shared/provider-openai")}),
        registry_payload("shared", {"provider-openai": prof(settings={"chat": {"engine": "gpt-4o"}})}),
    )
    body = resolved(client, "agent", "default")
    assert lineage(body) == ["shared/provider-openai", "default/agent"]
    assert body.get_json()["settings"]["chat"]["engine"] == "gpt-4o"


def test_a_cycle_through_two_registries_is_a_validation_error_at_the_closing_ref(client_for):
    # Each registry alone is valid (external refs are allowed unresolved at load); the cycle shows at resolution.
    client = client_for(registry_payload("a", {"x": prof("b/y")}), registry_payload("b", {"y": prof("a/x")}))
    expected = "validation error (registry.profiles[y].stack[0]): stack cycle detected: a/x -> b/y -> a/x"
    response = resolved(client, "x", "a")
    assert response.status_code == 400
    assert response.get_json()["message"] == expected
    assert chat_error(client, "x", "a") == (400, f"{expected}: {expected}")


def test_a_reference_to_a_missing_registry_names_it(client_for):
    client = client_for(registry_payload("default", {"agent": prof("nowhere/provider")}))
    expected = 'validation error (registry.profiles[agent].stack[0]): referenced registry "nowhere" not found'
    response = resolved(client, "agent")
    assert (response.status_code, response.get_json()["message"]) == (400, expected)
    assert chat_error(client, "agent") == (400, f"{expected}: {expected}")


def test_a_reference_to_a_missing_profile_names_profile_and_registry(client_for):
    client = client_for(
        registry_payload("default", {"agent": prof("shared/ghost")}), registry_payload("shared", {"real": prof()})
    )
    expected = (
        'validation error (registry.profiles[agent].stack[0]): referenced profile "ghost" not found in '
        'registry "shared"'
    )
    response = resolved(client, "agent")
    assert (response.status_code, response.get_json()["message"]) == (400, expected)
    assert chat_error(client, "agent") == (400, f"{expected}: {expected}")


def test_missing_root_profile_and_registry_use_the_reference_texts(client_for):
    client = client_for(registry_payload("default", {"agent": prof()}))
    response = resolved(client, "ghost")
    assert (response.status_code, response.get_json()["message"]) == (404, "profile not found")
    response = resolved(client, "agent", "nowhere")
    assert (response.status_code, response.get_json()["message"]) == (404, "registry not found")
    assert chat_error(client, "ghost") == (400, "profile not found: ghost")
    assert chat_error(client, "agent", "nowhere") == (400, "registry not found: registry not found")
    assert chat_error(client, "Bad Slug!") == (400, 'invalid profile: Bad Slug!: profile slug "Bad Slug!" is invalid')
    assert chat_error(client, "agent", "-x") == (400, 'invalid registry: -x: registry slug "-x" is invalid')


def test_empty_registry_means_the_default_registry_without_a_precedence_search(client_for):
    client = client_for(registry_payload("alpha", {"one": prof()}), registry_payload("beta", {"two": prof()}))
    assert lineage(resolved(client, "one")) == ["alpha/one"]  # alpha: first registry of the (only) source
    assert resolved(client, "two").status_code == 404
    assert lineage(resolved(client, "two", "beta")) == ["beta/two"]
    assert chat_error(client, "two") == (400, "profile not found: two")


def test_empty_input_resolves_the_default_registrys_default_profile(client_for):
    client = client_for(registry_payload("default", {"a": prof(), "b": prof("a")}, default="b"))
    view = app_state(client.application).service.chain.view()
    result = resolve_profile(view, "", "")
    assert (result.registry_slug, result.profile_slug) == ("default", "b")
    assert [e.profile_slug for e in result.lineage] == ["a", "b"]
    assert result.metadata["profile.stack.lineage"] == ["default/a", "default/b"]


def chain_registries(length: int) -> list[dict[str, Any]]:
    """A stack of `length` profiles alternating between registries `a` and `b` (each registry alone is valid)."""
    profiles: dict[str, dict[str, dict[str, Any]]] = {"a": {}, "b": {}}
    for i in range(length):
        here = "ab"[i % 2]
        stack = [f"{'ab'[(i + 1) % 2]}/p{i + 1}"] if i + 1 < length else []
        profiles[here][f"p{i}"] = prof(*stack)
    return [registry_payload("a", profiles["a"], default="p0"), registry_payload("b", profiles["b"])]


def test_a_stack_of_32_profiles_resolves(client_for):
    client = client_for(*chain_registries(32))
    assert len(lineage(resolved(client, "p0", "a"))) == 32


def test_a_stack_deeper_than_32_is_refused_with_the_path_walked(client_for):
    client = client_for(*chain_registries(33))
    response = resolved(client, "p0", "a")
    assert response.status_code == 400
    walked = " -> ".join(f"{'ab'[i % 2]}/p{i}" for i in range(32))
    assert response.get_json()["message"] == (
        f"validation error (registry.profiles[p31].stack[0]): stack depth exceeds max_depth=32 while traversing "
        f"{walked} -> a/p32"
    )


GO_BASE = {
    "API": None,
    "Chat": {
        "Engine": "gpt-base",
        "ApiType": "openai",
        "Temperature": 0.7,
        "TopP": None,
        "Stop": ["x"],
        "Stream": True,
        "MaxResponseTokens": 100,
    },
    "Client": {"Timeout": 30_000_000_000, "TimeoutSeconds": None},
    "ModelInfo": {"id": "m", "cost": {"input": 1, "output": 2, "cache_read": 0.5}, "metadata": {"a": 1, "b": 2}},
}
GO_MIDDLE = {"API": None, "Chat": {"Engine": None, "Temperature": None, "Stop": [], "Stream": False}, "Inference": None}
YAML_LEAF = {
    "chat": {"engine": "gpt-leaf", "stop": ["y", "z"], "temperature": None},
    "model_info": {"cost": {"input": 3, "output": 4}, "metadata": {"b": 3}},
}


def test_merge_rules_leaf_wins_lists_replaced_cost_whole_and_go_nulls_never_override(client_for, tmp_path):
    client = client_for(
        registry_payload(
            "default",
            {
                "base": prof(settings=GO_BASE),
                "middle": prof("base", settings=GO_MIDDLE),
                "leaf": prof("middle", settings=YAML_LEAF),
            },
            default="leaf",
        )
    )
    before = sqlite3.connect(tmp_path / "profiles.db").execute("SELECT payload_json FROM profile_registries").fetchone()
    settings = resolved(client, "leaf").get_json()["settings"]
    assert settings == {
        "chat": {
            "engine": "gpt-leaf",
            "api_type": "openai",
            "temperature": 0.7,
            "stop": ["y", "z"],
            "stream": True,
            "max_response_tokens": 100,
        },
        "client": {"timeout_second": 30},
        "model_info": {"id": "m", "cost": {"input": 3, "output": 4}, "metadata": {"a": 1, "b": 3}},
    }
    after = sqlite3.connect(tmp_path / "profiles.db").execute("SELECT payload_json FROM profile_registries").fetchone()
    assert after == before  # reading never rewrites the stored Go field names
    assert json.loads(after[0])["profiles"]["base"]["inference_settings"]["Chat"]["Engine"] == "gpt-base"


def test_a_layer_without_settings_contributes_nothing(client_for):
    client = client_for(
        registry_payload(
            "default", {"base": prof(settings={"chat": {"engine": "e"}}), "leaf": prof("base")}, default="leaf"
        )
    )
    assert resolved(client, "leaf").get_json()["settings"] == {"chat": {"engine": "e"}}


def test_api_keys_in_stored_settings_are_redacted_in_the_resolved_document(client_for):
    client = client_for(
        registry_payload("default", {"p": prof(settings={"API": {"APIKeys": {"openai-api-key": "sk-secret-123"}}})})
    )
    body = resolved(client, "p").get_data(as_text=True)
    assert "sk-secret-123" not in body
    assert json.loads(body)["settings"]["api"]["api_keys"] == {"openai-api-key": "<redacted>"}


@pytest.mark.parametrize(
    ("go_name", "tag"),
    [
        ("Engine", "engine"),
        ("ApiType", "api_type"),
        ("MaxResponseTokens", "max_response_tokens"),
        ("TopP", "top_p"),
        ("APIKeys", "api_keys"),
        ("BaseUrls", "base_urls"),
        ("ModelInfo", "model_info"),
        ("OpenAI", "openai"),
        ("TimeoutSeconds", "timeout_second"),
        ("UserID", "user_id"),
        ("api_type", "api_type"),
    ],
)
def test_go_field_names_map_to_their_yaml_tags(go_name, tag):
    assert snake_key(go_name) == tag


def test_keys_inside_free_form_maps_are_kept_verbatim():
    view = settings_view({"API": {"BaseUrls": {"OpenAI-Base": "u"}}, "ModelInfo": {"metadata": {"MyKey": 1}}})
    assert view == {"api": {"base_urls": {"OpenAI-Base": "u"}}, "model_info": {"metadata": {"MyKey": 1}}}


def test_deep_merge_replaces_lists_and_merges_maps():
    assert deep_merge({"a": {"x": 1, "l": [1, 2]}, "s": 1}, {"a": {"y": 2, "l": [3]}, "s": 2}) == {
        "a": {"x": 1, "y": 2, "l": [3]},
        "s": 2,
    }


def test_the_resolved_route_answers_every_error_in_json(client_for, tmp_path):
    client = client_for(registry_payload("default", {"agent": prof()}))
    write_row(tmp_path / "profiles.db", "broken", '{"slug": "broken", "profiles":')
    cases = [
        (client.post("/api/chat/profiles/agent/resolved"), 405, "method not allowed"),
        (client.get("/api/chat/profiles/Bad!/resolved"), 400, "invalid profile slug"),
        (client.get("/api/chat/profiles/agent/resolved?registry=-bad"), 400, "invalid registry"),
    ]
    for response, status, message in cases:
        assert response.status_code == status
        assert response.mimetype == "application/json"
        assert response.get_json()["message"] == message
    broken = client.get("/api/chat/profiles/agent/resolved?registry=broken")
    assert broken.status_code == 500 and "broken" in broken.get_json()["message"]


def test_mock_parity_resolves_to_the_deterministic_engine(client_for):
    body = resolved(client_for(registry_payload("default", {"agent": prof()})), "mock_parity").get_json()
    assert body["engine"] == {"kind": "mock_parity"} and body["fingerprint"] == "mock_parity:parity_all"
    assert body["registry"] == "default" and body["lineage"] == []


def test_the_routes_are_in_the_openapi_document(client_for):
    paths = client_for(registry_payload("default", {})).get("/api/openapi.json").get_json()["paths"]
    for path in (
        "/api/chat/sessions",
        "/api/chat/sessions/{session_id}",
        "/api/chat/sessions/{session_id}/messages",
        "/api/chat/profiles/{slug}/resolved",
    ):
        assert path in paths
