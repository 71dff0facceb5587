"""The chat session routes (contract §4.7): bodies, statuses, `{"error": ...}` texts, and the mock_parity run."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

import pytest
from conftest import registry_payload, write_row

from registry.chat.engines.mock_parity import FINAL_TEXT
from registry.web.app_state import app_state


@pytest.fixture
def app(make_app, seeded_db):
    return make_app(seeded_db)


@pytest.fixture
def client(app):
    return app.test_client()


def finished_snapshot(app, client, session_id: str) -> dict:
    """Wait for the session's runs (the threads, not the clock), then read the snapshot over HTTP."""
    app_state(app).chat_sessions.join()
    response = client.get(f"/api/chat/sessions/{session_id}")
    assert response.status_code == 200
    return response.get_json()


def test_create_session_returns_a_uuid_and_echoes_the_trimmed_profile(client):
    response = client.post("/api/chat/sessions", json={"profile": "  analyst ", "registry": "default"})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"sessionId", "profile"} and body["profile"] == "analyst"  # registry not echoed
    assert uuid.UUID(body["sessionId"]).version == 4
    assert response.get_data(as_text=True).endswith("}\n")
    empty = client.post("/api/chat/sessions")
    assert empty.status_code == 200 and set(empty.get_json()) == {"sessionId"}


@pytest.mark.parametrize("body", ["{", "[1]", '"x"', '{"profile": 3}'])
def test_create_session_refuses_a_malformed_body(client, body):
    response = client.post("/api/chat/sessions", data=body, content_type="application/json")
    assert (response.status_code, response.get_json()) == (400, {"error": "bad request"})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/chat/sessions"),
        ("PUT", "/api/chat/sessions"),
        ("OPTIONS", "/api/chat/sessions"),
        ("GET", "/api/chat/sessions/s1/messages"),
        ("DELETE", "/api/chat/sessions/s1"),
        ("HEAD", "/api/chat/sessions/s1"),
    ],
)
def test_wrong_methods_are_405_in_the_session_error_shape(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    if method != "HEAD":
        assert response.get_json() == {"error": "method not allowed"}


def test_unknown_session_sub_path_is_404_json(client):
    response = client.post("/api/chat/sessions/s1/unknown", json={})
    assert (response.status_code, response.get_json()) == (404, {"error": "not found"})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{", "bad request"),
        ('{"prompt": 5}', "bad request"),
        ('{"prompt": "x", "profile": ["a"]}', "bad request"),
        ('{"prompt": "x", "attachments": [{"attachment_id": "  "}]}', "attachment_id must not be empty"),
        ('{"prompt": "   "}', "missing prompt or attachments"),
        ("", "missing prompt or attachments"),
    ],
)
def test_message_body_errors_use_the_reference_texts(client, body, error):
    response = client.post("/api/chat/sessions/s1/messages", data=body, content_type="application/json")
    assert (response.status_code, response.get_json()) == (400, {"error": error})


def test_mock_parity_session_finishes_with_the_reference_final_text(app, client):
    session_id = client.post("/api/chat/sessions", json={"profile": "mock_parity"}).get_json()["sessionId"]
    response = client.post(
        f"/api/chat/sessions/{session_id}/messages", json={"prompt": "run parity", "profile": " Mock_Parity "}
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "sessionId": session_id,
        "accepted": True,
        "status": "running",
        "profile": "Mock_Parity",
    }
    snapshot = finished_snapshot(app, client, session_id)
    assert snapshot["status"] == "finished"
    assert snapshot["sessionId"] == session_id and int(snapshot["snapshotOrdinal"]) > 0
    by_role = {e["payload"].get("role"): e["payload"] for e in snapshot["entities"] if e["kind"] == "ChatMessage"}
    assert by_role["user"]["content"] == "run parity"
    assert by_role["assistant"] == by_role["assistant"] | {"text": FINAL_TEXT, "status": "finished"}
    assert by_role["thinking"]["text"].startswith("Inspecting deterministic inputs. ")
    kinds = [e["kind"] for e in snapshot["entities"]]
    assert kinds.count("ChatToolCall") == 1 and "AgentModeSwitch" in kinds
    call = next(e["payload"] for e in snapshot["entities"] if e["kind"] == "ChatToolCall")
    assert call == {
        "toolCallId": "mock-backend-tool-1",
        "name": "mock.search",
        "input": {"query": "mock parity", "limit": 3},
        "status": "finished",
    }
    mode = next(e["payload"] for e in snapshot["entities"] if e["kind"] == "AgentModeSwitch")
    assert mode == {"from": "financial_analyst", "to": "mock_reviewer"}
    for entity in snapshot["entities"]:
        assert set(entity) == {"kind", "id", "createdOrdinal", "lastEventOrdinal", "tombstone", "payload", "createdAt"}
        assert int(entity["createdOrdinal"]) <= int(entity["lastEventOrdinal"]) <= int(snapshot["snapshotOrdinal"])


def test_a_second_message_adds_a_second_turn(app, client):
    for prompt in ("one", "two"):
        assert (
            client.post("/api/chat/sessions/s2/messages", json={"prompt": prompt, "profile": "mock_parity"}).status_code
            == 200
        )
        app_state(app).chat_sessions.join()
    snapshot = finished_snapshot(app, client, "s2")
    users = [e["payload"]["content"] for e in snapshot["entities"] if e["payload"].get("role") == "user"]
    answers = [e for e in snapshot["entities"] if e["payload"].get("role") == "assistant"]
    assert users == ["one", "two"] and len(answers) == 2 and snapshot["status"] == "finished"


def test_an_unknown_session_reads_as_empty_and_idle(client):
    response = client.get("/api/chat/sessions/never-used")
    assert response.get_json() == {"sessionId": "never-used", "snapshotOrdinal": "0", "status": "idle", "entities": []}


def test_mock_parity_needs_no_healthy_registry(make_app, db_path):
    write_row(db_path, "broken", '{"slug": "broken", "profiles":')
    app = make_app(db_path)
    client = app.test_client()
    assert (
        client.post("/api/chat/sessions/m/messages", json={"prompt": "x", "profile": "mock_parity"}).status_code == 200
    )
    assert finished_snapshot(app, client, "m")["status"] == "finished"
    response = client.post("/api/chat/sessions/m/messages", json={"prompt": "x", "profile": "p", "registry": "broken"})
    assert response.status_code == 400
    assert re.fullmatch(
        r"profile resolution failed: registry 'broken' is quarantined: .+", response.get_json()["error"]
    )


def test_a_registry_without_profiles_has_no_default_to_resolve(make_app, db_path):
    write_row(db_path, "empty", registry_payload("empty", {}))
    client = make_app(db_path).test_client()
    response = client.post("/api/chat/sessions/e/messages", json={"prompt": "x", "registry": "empty"})
    text = "validation error (profile.slug): profile slug is required and registry has no default"
    assert (response.status_code, response.get_json()) == (400, {"error": f"{text}: {text}"})


def test_the_example_profile_without_its_key_is_a_clear_400(client, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    response = client.post("/api/chat/sessions/k/messages", json={"prompt": "x", "profile": "analyst"})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "engine init failed: environment variable OPENAI_API_KEY (api.api_key_env) is not set"
    }


def test_mock_parity_over_a_real_server(app, live_server):
    server = live_server(app)
    request = urllib.request.Request(
        server.url + "/api/chat/sessions/live/messages",
        data=json.dumps({"prompt": "hello", "profile": "mock_parity"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["accepted"] is True
    app_state(app).chat_sessions.join()
    with urllib.request.urlopen(server.url + "/api/chat/sessions/live", timeout=10) as response:
        snapshot = json.load(response)
    assert snapshot["status"] == "finished"
    assert any(e["payload"].get("text") == FINAL_TEXT for e in snapshot["entities"])
