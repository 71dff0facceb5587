"""Every limit is a `serve` flag: parsed by the real command line, built into the app by `serve`, and in effect.

Each test builds the app exactly as `profile-registry serve ARGS` does (registry.cli.serve.build_app on the parsed
arguments) and shows the flag's value changing what a client gets. The waitress limits, the request deadlines and
REGISTRY_MAX_ROW_BYTES are shown against a real `serve` in test_hostile_clients.py, test_hostile_deadlines.py and
test_oversized_rows.py. Before these flags existed every test here failed at the parser (exit 2).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from registry.cli import build_parser
from registry.cli.serve import build_app
from registry.domain.errors import StartupError
from registry.web.app_state import app_state

from ._support import run_serve_expecting_exit

SECRET = "flags-Token-3e9a"
AUTH = {"Authorization": f"Bearer {SECRET}"}


@pytest.fixture
def serve_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """The app `serve ARGS` would run, on a fresh database (or the given sources); closed at teardown."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROFILE_REGISTRY_TOKEN", f"alice:{SECRET}")
    apps: list[Flask] = []

    def build(*args: str) -> Flask:
        # Without --profile-registries: ./data/profiles.db under tmp_path, seeded with the example registry.
        app = build_app(build_parser().parse_args(["serve", *args]))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app_state(app).chat_sessions.join(timeout=30)
        app_state(app).service.chain.close()


def nested_yaml(depth: int) -> str:
    value = "1"
    for _ in range(depth):
        value = "{a: " + value + "}"
    return f"slug: deep\nprofiles:\n  p:\n    slug: p\n    inference_settings: {value}\n"


def test_yaml_max_depth(tmp_path: Path, serve_app) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "deep.yaml"
    source.write_text(nested_yaml(8))
    serve_app("--profile-registries", str(source))  # the default (100) takes it
    with pytest.raises(StartupError, match="nested deeper than 6 levels"):
        serve_app("--profile-registries", str(source), "--yaml-max-depth", "6")


def test_registry_max_expanded_bytes(tmp_path: Path, serve_app) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "aliases.yaml"
    # About 500 bytes on disk, 30 KB once the aliases are expanded.
    leaf = "x" * 100
    source.write_text(
        "slug: wide\nprofiles:\n  default:\n    slug: default\n    inference_settings:\n"
        f"      a: &a ['{leaf}', '{leaf}', '{leaf}']\n"
        "      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "      c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    )
    app = serve_app("--profile-registries", str(source))
    assert app.test_client().get("/api/health").get_json()["quarantined"] == []
    app = serve_app("--profile-registries", str(source), "--registry-max-expanded-bytes", "16KiB")
    quarantined = app.test_client().get("/api/health").get_json()["quarantined"]
    assert [q["slug"] for q in quarantined] == ["wide"], quarantined
    assert "more than 16384 bytes" in quarantined[0]["reason"], quarantined


def post_message(app: Flask, session: str, prompt: str) -> tuple[int, dict[str, Any], Any]:
    response = app.test_client().post(
        f"/api/chat/sessions/{session}/messages", json={"prompt": prompt, "profile": "mock_parity"}
    )
    return response.status_code, dict(response.headers), response.get_json()


def entities(app: Flask, session: str) -> list[Any]:
    return app.test_client().get(f"/api/chat/sessions/{session}").get_json()["entities"]


A, B, C = (f"0{c}000000-0000-4000-8000-00000000000{c}" for c in "abc")


def quick(app: Flask) -> Flask:
    app.config["CHAT_MOCK_CHUNK_DELAY_MS"] = 0
    return app


def test_chat_max_prompt_bytes(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = quick(serve_app("--chat-max-prompt-bytes", "100"))
    status, _, body = post_message(app, A, "p" * 101)
    assert status == 413 and "more than the 100 allowed (CHAT_MAX_PROMPT_BYTES)" in body["error"], body
    assert post_message(app, A, "p" * 100)[0] == 200


def test_chat_max_messages_per_session(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = quick(serve_app("--chat-max-messages-per-session", "2"))
    assert [post_message(app, A, f"m{i}")[0] for i in range(2)] == [200, 200]
    status, _, body = post_message(app, A, "third")
    assert status == 429 and "CHAT_MAX_MESSAGES_PER_SESSION" in body["error"], body


def test_chat_max_sessions(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = quick(serve_app("--chat-max-sessions", "2"))
    for session in (A, B, C):
        assert post_message(app, session, "hello")[0] == 200
        app_state(app).chat_sessions.join()
    assert entities(app, A) == []  # the least recently used one made room for the third
    assert entities(app, B) != [] and entities(app, C) != []


def test_chat_session_idle_seconds(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = quick(serve_app("--chat-session-idle-seconds", "1"))
    assert post_message(app, A, "hello")[0] == 200
    app_state(app).chat_sessions.join()
    time.sleep(1.5)
    assert post_message(app, B, "hello")[0] == 200
    assert entities(app, A) == []


def test_chat_max_sessions_bytes(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = quick(serve_app("--chat-max-sessions-bytes", "8KiB"))
    for session in (A, B):
        assert post_message(app, session, "x" * 3000)[0] == 200
        app_state(app).chat_sessions.join()
    assert entities(app, A) != []
    assert post_message(app, C, "x" * 3000)[0] == 200
    assert entities(app, A) == []  # 9,000 bytes of prompts (and their answers) do not fit in 8 KiB


@pytest.mark.parametrize("running, queued", [(2, 0), (1, 1)])
def test_chat_max_concurrent_and_queued_runs(serve_app, running: int, queued: int) -> None:  # type: ignore[no-untyped-def]
    app = serve_app("--chat-max-concurrent-runs", str(running), "--chat-max-queued-runs", str(queued))
    app.config["CHAT_MOCK_CHUNK_DELAY_MS"] = 300  # runs that last seconds, so none ends during the test
    sessions = [f"0d000000-0000-4000-8000-0000000000{i:02d}" for i in range(running + queued + 1)]
    statuses = [post_message(app, s, "hello") for s in sessions]
    assert [s[0] for s in statuses] == [200] * (running + queued) + [503], [s[:1] + s[2:] for s in statuses]
    assert statuses[-1][1].get("Retry-After", "").isdigit()
    workers = [t for t in threading.enumerate() if t.name == "chat-run"]
    assert len(workers) <= running, workers


def put_profile(app: Flask, key_env: str) -> tuple[int, str]:
    settings = {"api": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": key_env}, "chat": {"engine": "m"}}
    slug = "p-" + key_env.lower().replace("_", "-")
    response = app.test_client().post(
        "/api/chat/profiles", json={"slug": slug, "inference_settings": settings}, headers=AUTH
    )
    return response.status_code, response.get_data(as_text=True)


def test_api_key_env_allowed(serve_app) -> None:  # type: ignore[no-untyped-def]
    app = serve_app("--writable")
    status, body = put_profile(app, "TEAM_TOKEN")
    assert status == 400 and "API_KEY_ENV_ALLOWED (*_API_KEY)" in body, body
    app = serve_app("--writable", "--api-key-env-allowed", "TEAM_*,OTHER_KEY")
    assert put_profile(app, "TEAM_TOKEN")[0] == 201
    assert put_profile(app, "OTHER_KEY")[0] == 201
    status, body = put_profile(app, "OPENAI_API_KEY")  # the list replaces the default
    assert status == 400 and "TEAM_*, OTHER_KEY" in body, body
    app = serve_app("--writable", "--api-key-env-allowed", "none")
    status, body = put_profile(app, "OPENAI_API_KEY")
    assert status == 400 and "(none)" in body, body
    # The service's own variables stay out of reach whatever the list says.
    app = serve_app("--writable", "--api-key-env-allowed", "*")
    status, body = put_profile(app, "PROFILE_REGISTRY_TOKEN")
    assert status == 400 and "never readable" in body, body


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--yaml-max-depth", "0"),
        ("--registry-max-expanded-bytes", "12"),
        ("--chat-max-prompt-bytes", "2MiB"),
        ("--chat-max-messages-per-session", "many"),
        ("--chat-max-sessions", "0"),
        ("--chat-session-idle-seconds", "-1"),
        ("--chat-max-sessions-bytes", "1.5GiB"),
        ("--chat-max-concurrent-runs", "257"),
        ("--chat-max-queued-runs", "-1"),
        ("--api-key-env-allowed", "A KEY"),
    ],
)
def test_a_bad_limit_is_one_line_and_exit_2(tmp_path: Path, flag: str, value: str) -> None:
    done = run_serve_expecting_exit([flag, value], tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"argument {flag}: " in done.stderr, done.stderr
    assert not (tmp_path / "data").exists()  # refused before any database was opened


def test_every_limit_flag_is_documented_with_its_setting_in_readme() -> None:
    from registry.cli.serve_limits import APP_LIMITS, DEADLINE_LIMITS, WAITRESS_LIMITS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for limit in (*WAITRESS_LIMITS, *DEADLINE_LIMITS, *APP_LIMITS):
        flag = "--" + limit.key.removeprefix("WAITRESS_").lower().replace("_", "-")
        assert f"`{flag}`" in readme and f"`{limit.key}`" in readme, limit.key
