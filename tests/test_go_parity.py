"""Go parity (issue 13): where a client or the Go service would notice a difference, we answer as the reference.

Every test names the Go file its behaviour comes from (gep: go-go-golems/geppetto, pin: go-go-golems/pinocchio).
All go through HTTP, so they hold whatever serializes the bodies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.web.app_state import app_state
from registry.web.auth import AdminToken

RUNTIME = "pinocchio.webchat_runtime@v1"
TOKEN = "parity-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def one_profile_db(tmp_path: Path, profile: dict, registry: str = "default") -> Path:
    db = tmp_path / "parity.db"
    write_row(db, registry, registry_payload(registry, {"p": profile}))
    return db


# --- answers in the reference's JSON shape -------------------------------------------------------------------


def test_model_info_omits_empty_input_and_metadata(tmp_path, make_app):
    """gep:pkg/steps/ai/settings/model_info.go: `input` and `metadata` are `omitempty` on ModelInfo."""
    info = {"id": "m", "input": [], "metadata": {}, "context_window": 0, "name": ""}
    db = one_profile_db(tmp_path, {"inference_settings": {"ModelInfo": info}})
    client = make_app(db).test_client()
    expected = {"id": "m", "name": "", "context_window": 0}  # pointers: set-but-zero values stay
    assert client.get("/api/chat/profiles/p").get_json()["model_info"] == expected
    item = next(i for i in client.get("/api/chat/profiles").get_json() if i["slug"] == "p")
    assert item["model_info"] == expected


def test_model_info_fields_match_case_insensitively(tmp_path, make_app):
    """Go's encoding/json fills ModelInfo.ContextWindow (tag `context_window`) from `Context_Window` too."""
    info = {"ID": "m", "Context_Window": 100, "cost": {"INPUT": 1.5, "surcharge": -3}}
    db = one_profile_db(tmp_path, {"inference_settings": {"modelinfo": info}})
    doc = make_app(db).test_client().get("/api/chat/profiles/p").get_json()
    assert doc["model_info"] == {"id": "m", "context_window": 100, "cost": {"input": 1.5, "output": 0}}


def test_runtime_with_null_fields_decodes(tmp_path, make_app):
    """pin:pkg/inference/runtime/profile_runtime.go: null id/enabled/config/tools are unset, not a decode error."""
    runtime = {
        "system_prompt": "Be brief.",
        "middlewares": [{"name": "agentmode", "id": None, "enabled": None, "config": None}],
        "tools": None,
    }
    db = one_profile_db(tmp_path, {"extensions": {RUNTIME: runtime}})
    client = make_app(db).test_client()
    doc = client.get("/api/chat/profiles/p").get_json()
    assert doc["runtime"] == {"system_prompt": "Be brief.", "middlewares": [{"name": "agentmode"}]}
    item = next(i for i in client.get("/api/chat/profiles").get_json() if i["slug"] == "p")
    assert item["default_prompt"] == "Be brief."


def test_runtime_with_null_middleware_and_tool_entries_decodes(tmp_path, make_app):
    """pin:pkg/inference/runtime/profile_runtime.go: a null list element decodes to the element's zero value."""
    runtime = {"System_Prompt": "Hi", "middlewares": [None], "tools": [None, "search"]}
    db = one_profile_db(tmp_path, {"extensions": {RUNTIME: runtime}})
    doc = make_app(db).test_client().get("/api/chat/profiles/p").get_json()
    assert doc["runtime"] == {"system_prompt": "Hi", "middlewares": [{"name": ""}], "tools": ["", "search"]}


def test_current_profile_post_matches_field_names_case_insensitively(seeded_db, make_app):
    """pin:cmd/web-chat/internal/profiles/types.go CurrentProfilePayload, decoded by Go's case-insensitive decoder."""
    client = make_app(seeded_db).test_client()
    response = client.post("/api/chat/profile", json={"Profile": "analyst", "REGISTRY": "default"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"profile": "analyst", "registry": "default"}
    assert response.headers["Set-Cookie"].startswith("chat_profile=default/analyst;")


def test_create_session_and_submit_match_field_names_case_insensitively(seeded_db, make_app):
    """pin:pkg/chatapp/serverkit/contracts.go CreateSessionRequest / SubmitMessageRequest (json tags, any case)."""
    app = make_app(seeded_db, CHAT_MOCK_CHUNK_DELAY_MS=0)
    client = app.test_client()
    created = client.post("/api/chat/sessions", json={"Profile": " mock_parity "})
    assert created.status_code == 200 and created.get_json()["profile"] == "mock_parity"
    session = created.get_json()["sessionId"]
    body = {"Prompt": "hello", "Profile": "mock_parity", "Attachments": [{"Attachment_ID": "a1"}]}
    sent = client.post(f"/api/chat/sessions/{session}/messages", json=body)
    assert sent.status_code == 200, sent.get_data(as_text=True)
    assert sent.get_json()["profile"] == "mock_parity"
    blank_body = {"PROMPT": "x", "attachments": [{"ATTACHMENT_ID": " "}]}
    blank = client.post(f"/api/chat/sessions/{session}/messages", json=blank_body)
    assert blank.get_json() == {"error": "attachment_id must not be empty"}
    app_state(app).chat_sessions.join()


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("profile", 'invalid profile: Bad!: profile slug "Bad!" is invalid'),
        ("registry", 'invalid registry: Bad!: registry slug "Bad!" is invalid'),
    ],
)
def test_chat_errors_quote_the_trimmed_input(seeded_db, make_app, field, expected):
    """pin:cmd/web-chat/internal/profiles/resolver.go trims the selection before parsing and quoting it."""
    client = make_app(seeded_db).test_client()
    body = {"prompt": "hi", field: "  Bad!  "}
    response = client.post("/api/chat/sessions/s1/messages", json=body)
    assert (response.status_code, response.get_json()) == (400, {"error": expected})


def test_chat_session_routes_accept_a_trailing_slash(seeded_db, make_app):
    """pin:cmd/web-chat/internal/appserver/routes_sessions.go trims slashes around the part after the prefix."""
    app = make_app(seeded_db, CHAT_MOCK_CHUNK_DELAY_MS=0)
    client = app.test_client()
    sent = client.post("/api/chat/sessions/s-slash/messages/", json={"prompt": "hi", "profile": "mock_parity"})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    app_state(app).chat_sessions.join()
    snapshot = client.get("/api/chat/sessions/s-slash/")
    assert snapshot.status_code == 200 and snapshot.get_json()["sessionId"] == "s-slash"
    assert snapshot.get_json()["status"] == "finished"


# --- model_info validation as ModelInfo.Validate runs it -----------------------------------------------------


def test_watermark_above_a_zero_window_is_quarantined_and_refused(tmp_path, make_app):
    """gep:pkg/steps/ai/settings/model_info.go Validate: watermark <= window whenever both are set, 0 included."""
    info = {"context_window": 0, "quality_high_watermark": 10}
    db = one_profile_db(tmp_path, {"inference_settings": {"model_info": info}}, registry="bad")
    write_row(db, "default", registry_payload("default", {"ok": {}}))
    client = make_app(db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", TOKEN)]).test_client()
    health = client.get("/api/health").get_json()
    assert health["quarantined"] == [
        {
            "slug": "bad",
            "reason": "validation error (profile.inference_settings.model_info): "
            "model_info.quality_high_watermark must be <= model_info.context_window",
        }
    ]
    refused = client.post(
        "/api/chat/profiles", json={"slug": "w", "inference_settings": {"model_info": info}}, headers=AUTH
    )
    assert refused.status_code == 400
    assert "quality_high_watermark must be <= model_info.context_window" in refused.get_json()["message"]


def test_unknown_cost_keys_are_ignored(tmp_path, make_app):
    """gep:pkg/steps/ai/settings/model_info.go ModelCost has four fields; Go's decoder drops any other key."""
    info = {"context_window": 10, "cost": {"input": 1, "output": 2, "discount": -5}}
    db = one_profile_db(tmp_path, {"inference_settings": {"model_info": info}})
    client = make_app(db).test_client()
    assert client.get("/api/health").get_json()["quarantined"] == []
    assert client.get("/api/chat/profiles/p").get_json()["model_info"]["cost"] == {"input": 1, "output": 2}
