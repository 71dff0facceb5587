"""The OpenAI-compatible engine end to end: a real waitress server, a stacked profile, and a fake chat-completions
server started by the test on loopback, which records what it receives and fails on demand."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import registry_payload, write_row

from registry.web.app_state import app_state

KEY_ENV = "ENGINE_TEST_API_KEY"
KEY = "sk-test-0123456789-secret"


class FakeUpstream:
    """A chat-completions endpoint on 127.0.0.1:0; `mode` picks the answer: ok, error500, echo-key or hang."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                upstream.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if upstream.mode == "hang":
                    upstream.release.wait(10)  # longer than the profile's timeout; released at teardown
                    return
                if upstream.mode == "ok":
                    status, answer = (
                        200,
                        {"choices": [{"message": {"role": "assistant", "content": f"pong {len(upstream.requests)}"}}]},
                    )
                elif upstream.mode == "echo-key":
                    status, answer = 401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}
                else:
                    status, answer = 500, {"error": {"message": "upstream exploded"}}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    yield fake
    fake.close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def stacked_registry(base_url: str, timeout: float | None = None) -> dict[str, Any]:
    """provider (endpoint, key variable, model) <- tuned (Go-written: temperature, max tokens) <- agent (YAML:
    model, prompt)."""
    api: dict[str, Any] = {"base_url": base_url, "api_key_env": KEY_ENV}
    provider_settings: dict[str, Any] = {
        "api": api,
        "chat": {"api_type": "openai", "engine": "base-model", "temperature": 0.9},
    }
    if timeout is not None:
        provider_settings["client"] = {"timeout_second": timeout}
    return registry_payload(
        "default",
        {
            "provider": {
                "inference_settings": provider_settings,
                "extensions": {"pinocchio.webchat_runtime@v1": {"system_prompt": "Provider prompt"}},
            },
            "tuned": {
                "stack": [{"profile_slug": "provider"}],
                "inference_settings": {
                    "API": None,
                    "Chat": {"Engine": None, "Temperature": 0.25, "MaxResponseTokens": 64, "Stream": False, "Stop": []},
                },
            },
            "agent": {
                "stack": [{"profile_slug": "tuned"}],
                "inference_settings": {"chat": {"engine": "leaf-model"}},
                "extensions": {"pinocchio.webchat_runtime@v1": {"system_prompt": "You are the stacked agent."}},
            },
        },
        default="agent",
    )


@pytest.fixture
def serve(make_app, live_server, tmp_path, monkeypatch):
    """A live server on a database holding the stacked registry pointed at `base_url`."""
    monkeypatch.setenv(KEY_ENV, KEY)

    def start(base_url: str, timeout: float | None = None):
        db = tmp_path / "profiles.db"
        write_row(db, "default", stacked_registry(base_url, timeout))
        app = make_app(db)
        return app, live_server(app)

    return start


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def snapshot(app, server, session_id: str) -> dict[str, Any]:
    app_state(app).chat_sessions.join(timeout=15)
    with urllib.request.urlopen(f"{server.url}/api/chat/sessions/{session_id}", timeout=10) as response:
        return json.load(response)


def assistant(snap: dict[str, Any]) -> dict[str, Any]:
    return [e["payload"] for e in snap["entities"] if e["payload"].get("role") == "assistant"][-1]


def test_stacked_profile_reaches_the_endpoint_with_merged_model_temperature_and_prompt(serve, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    app, server = serve(upstream.url)
    status, body = post(f"{server.url}/api/chat/sessions/e2e/messages", {"prompt": "ping", "profile": "agent"})
    assert (status, body) == (200, {"sessionId": "e2e", "accepted": True, "status": "running", "profile": "agent"})
    snap = snapshot(app, server, "e2e")
    assert snap["status"] == "finished" and assistant(snap)["text"] == "pong 1"
    [received] = upstream.requests
    assert received["path"] == "/v1/chat/completions"
    assert received["headers"]["Authorization"] == f"Bearer {KEY}"
    assert received["body"]["model"] == "leaf-model"  # leaf (YAML-born) wins over the base
    assert received["body"]["temperature"] == 0.25  # middle (Go-written) wins over the base; the leaf sets none
    assert received["body"]["max_tokens"] == 64
    assert received["body"]["messages"] == [
        {"role": "system", "content": "You are the stacked agent."},
        {"role": "user", "content": "ping"},
    ]
    # The key went to the endpoint only: not into the session, the resolved view or the log.
    with urllib.request.urlopen(f"{server.url}/api/chat/profiles/agent/resolved", timeout=10) as response:
        resolved_text = response.read().decode()
    assert KEY not in json.dumps(snap) and KEY not in resolved_text
    assert all(KEY not in record.getMessage() for record in caplog.records)


def test_a_follow_up_message_carries_the_conversation(serve, upstream):
    app, server = serve(upstream.url)
    for prompt in ("first", "second"):
        assert post(f"{server.url}/api/chat/sessions/h/messages", {"prompt": prompt, "profile": "agent"})[0] == 200
        app_state(app).chat_sessions.join(timeout=15)
    assert upstream.requests[1]["body"]["messages"][1:] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "pong 1"},
        {"role": "user", "content": "second"},
    ]


def test_upstream_500_is_an_error_in_the_session(serve, upstream):
    upstream.mode = "error500"
    app, server = serve(upstream.url)
    assert post(f"{server.url}/api/chat/sessions/f/messages", {"prompt": "x", "profile": "agent"})[0] == 200
    snap = snapshot(app, server, "f")
    assert snap["status"] == "error"
    assert assistant(snap)["error"] == (
        f"chat completion failed: {upstream.url}/chat/completions answered HTTP 500 Internal Server Error: "
        f"upstream exploded"
    )


def test_an_upstream_error_that_echoes_the_key_is_redacted(serve, upstream):
    upstream.mode = "echo-key"
    app, server = serve(upstream.url)
    post(f"{server.url}/api/chat/sessions/r/messages", {"prompt": "x", "profile": "agent"})
    error = assistant(snapshot(app, server, "r"))["error"]
    assert "Incorrect API key provided: <redacted>" in error and KEY not in error


def test_a_hanging_upstream_times_out_with_the_configured_timeout(serve, upstream):
    upstream.mode = "hang"
    app, server = serve(upstream.url, timeout=0.3)
    status, _ = post(f"{server.url}/api/chat/sessions/t/messages", {"prompt": "x", "profile": "agent"})
    assert status == 200  # the request itself never waits for the engine
    snap = snapshot(app, server, "t")
    assert snap["status"] == "error"
    assert (
        assistant(snap)["error"]
        == f"chat completion failed: no answer from {upstream.url}/chat/completions within 0.3 s"
    )


def test_a_refused_connection_is_an_error_in_the_session(serve):
    url = closed_port_url()
    app, server = serve(url)
    post(f"{server.url}/api/chat/sessions/c/messages", {"prompt": "x", "profile": "agent"})
    snap = snapshot(app, server, "c")
    assert snap["status"] == "error"
    assert (
        assistant(snap)["error"]
        == f"chat completion failed: cannot connect to {url}/chat/completions: connection refused"
    )


def test_a_missing_key_variable_is_refused_before_anything_is_sent(serve, upstream, monkeypatch):
    _, server = serve(upstream.url)
    monkeypatch.delenv(KEY_ENV)
    status, body = post(f"{server.url}/api/chat/sessions/k/messages", {"prompt": "x", "profile": "agent"})
    assert (status, body) == (
        400,
        {"error": f"engine init failed: environment variable {KEY_ENV} (api.api_key_env) is not set"},
    )
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"chat": {"engine": "m"}}, "no chat endpoint: set api.base_url in the profile's inference_settings"),
        (
            {"api": {"base_url": "ftp://x"}, "chat": {"engine": "m"}},
            "api.base_url must be an http(s) URL, got 'ftp://x'",
        ),
        (
            {"api": {"base_url": "http://127.0.0.1:1/v1"}},
            "no model: set chat.engine in the profile's inference_settings",
        ),
        (
            {"api": {"base_url": "http://127.0.0.1:1/v1"}, "chat": {"engine": "m", "api_type": "claude"}},
            'chat.api_type "claude" is not an OpenAI-compatible chat-completions API',
        ),
    ],
)
def test_settings_that_name_no_usable_endpoint_are_engine_init_errors(make_app, tmp_path, settings, problem):
    db = tmp_path / "profiles.db"
    write_row(db, "default", registry_payload("default", {"p": {"inference_settings": settings}}))
    client = make_app(db).test_client()
    response = client.post("/api/chat/sessions/x/messages", json={"prompt": "x", "profile": "p"})
    assert (response.status_code, response.get_json()) == (400, {"error": f"engine init failed: {problem}"})
    engine = client.get("/api/chat/profiles/p/resolved").get_json()["engine"]
    assert engine == {"kind": "none", "problem": f"engine init failed: {problem}"}
