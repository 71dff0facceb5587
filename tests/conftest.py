"""Shared fixtures: a real database file per test, the app on it, and a real waitress server on loopback."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import waitress
from flask import Flask
from waitress import wasyncore

from registry import create_app
from registry.config import DATA_DIR
from registry.web.app_state import app_state

EXAMPLE_REGISTRY = DATA_DIR / "example-registry.yaml"


def write_row(db_path: Path, slug: str, payload: Any, updated_at_ms: int = 1_760_000_000_000) -> None:
    """Insert or replace one row behind the service's back, as an operator with the sqlite3 shell would."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    conn = sqlite3.connect(db_path)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS profile_registries ("
            "slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, updated_at_ms INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute(
            "INSERT INTO profile_registries (slug, payload_json, updated_at_ms) VALUES (?, ?, ?) "
            "ON CONFLICT(slug) DO UPDATE SET payload_json=excluded.payload_json, updated_at_ms=excluded.updated_at_ms",
            (slug, text, updated_at_ms),
        )
        conn.commit()
    finally:
        conn.close()


def registry_payload(slug: str, profiles: dict[str, dict[str, Any]], default: str | None = None) -> dict[str, Any]:
    """A registry payload in the reference's JSON shape; each profile gets its slug and empty metadata."""
    body: dict[str, Any] = {"slug": slug}
    if profiles:
        body["default_profile_slug"] = default or min(profiles)
        body["profiles"] = {name: {"slug": name, "metadata": {}} | value for name, value in profiles.items()}
    body["metadata"] = {}
    return body


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a database file that does not exist yet."""
    return tmp_path / "profiles.db"


@pytest.fixture
def seeded_db(tmp_path: Path) -> Path:
    """A database created and filled by the service itself from the example registry."""
    path = tmp_path / "data" / "profiles.db"
    app = create_app({"DEFAULT_DATABASE": str(path)})
    app_state(app).service.chain.close()
    return path


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build apps on given sources; every source is closed at teardown."""
    apps: list[Flask] = []

    def factory(*entries: str | Path, **config: Any) -> Flask:
        settings = {"PROFILE_REGISTRIES": [str(e) for e in entries], "DEFAULT_DATABASE": str(tmp_path / "default.db")}
        app = create_app(settings | config)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app_state(app).service.chain.close()


class LiveServer:
    """A waitress server in this process on a free loopback port."""

    def __init__(self, app: Flask, threads: int = 8) -> None:
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        # Close the sockets from waitress's own loop thread: closing them from here races the select() loop
        # ("Bad file descriptor" warnings). Once its socket map is empty, run() returns.
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        except OSError:
            # Seen a few times under heavy load (EBADF: the trigger's pipe is already closed; cause not found yet,
            # see the closing note of 2026-12-03). The loop can no longer be woken, so close its sockets from here.
            wasyncore.close_all(self.server._map)
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown()


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Start waitress servers for apps; all are stopped at teardown."""
    servers: list[LiveServer] = []

    def start(app: Flask, threads: int = 8) -> LiveServer:
        server = LiveServer(app, threads)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, dropped after it (tests/postgres_server.py)."""
    from postgres_server import create_database, drop_database, require_server, url_of

    require_server()
    dsn = create_database()
    try:
        yield url_of(dsn)
    finally:
        drop_database(dsn)


@pytest.fixture
def private_pg() -> Iterator[object]:
    """A started PostgreSQL server of this test's own (tests/postgres_server.py PrivateServer), removed after it."""
    from postgres_server import PrivateServer

    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()
