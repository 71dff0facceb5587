"""The cached profile reads answered before Flask (registry/api/cached_reads.py) are the Flask route's answers: same
status, headers and bytes, the same freshness after a write, counted in the metrics; anything else goes to Flask."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest
from conftest import registry_payload, write_row
from flask import request_started

from registry.api import common

# Requests the list and detail routes answer 200: the first fills the cache through Flask, the second is a hit.
CACHED = [
    "/api/chat/profiles",
    "/api/chat/profiles?registry=default",
    "/api/chat/profiles?registry=team",
    "/api/chat/profiles/alpha",
    "/api/chat/profiles/alpha?registry=team",
    "/api/chat/profiles/alpha?registry=default&unrelated=1",
    "/api/chat/profiles/mock_parity",
    "/api/chat/profiles/mock_parity?registry=team",
]
# Requests that always go to Flask: other routes, other methods, errors, paths werkzeug must decode.
NOT_CACHED = [
    ("GET", "/api/chat/profiles/alpha/"),
    ("GET", "/api/chat/profiles/alpha/default"),
    ("GET", "/api/chat/profiles/missing"),
    ("GET", "/api/chat/profiles/Not%20A%20Slug"),
    ("GET", "/api/chat/profiles/caf%C3%A9"),
    ("GET", "/api/chat/profiles?registry=Not%20Valid"),
    ("GET", "/api/chat/profiles?registry=nosuch"),
    ("HEAD", "/api/chat/profiles/alpha"),
    ("OPTIONS", "/api/chat/profiles"),
    ("GET", "/api/chat/profile"),
]


@pytest.fixture(autouse=True)
def empty_query_cache(monkeypatch):
    """Each test starts with no parsed query strings (the cache is the process's, shared by every app)."""
    monkeypatch.setattr(common, "_REGISTRY_BY_QUERY", {})


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "profiles.db"
    write_row(path, "default", registry_payload("default", {"alpha": {"display_name": "A"}, "beta": {}}))
    write_row(path, "team", registry_payload("team", {"alpha": {"display_name": "Team A"}}))
    return path


class FlaskCalls:
    """A test client whose `flask_saw_last` tells whether the last request reached Flask's request handling."""

    def __init__(self, app) -> None:
        self.client = app.test_client()
        self.count = 0
        self.app = app
        request_started.connect(self._seen, app)

    def _seen(self, sender, **extra) -> None:
        self.count += 1

    def open(self, url: str, method: str = "GET"):
        before = self.count
        response = self.client.open(url, method=method)
        response.fast = self.count == before
        return response

    def get(self, url: str):
        return self.open(url)


def took_fast_path(response) -> bool:
    return response.fast


@pytest.mark.parametrize("url", CACHED)
def test_a_cache_hit_is_answered_before_flask_with_the_same_status_headers_and_bytes(db, make_app, url):
    client = FlaskCalls(make_app(db))
    first, second = client.get(url), client.get(url)
    assert first.status_code == 200 and not took_fast_path(first)
    assert took_fast_path(second)
    assert (second.status, list(second.headers), second.data) == (first.status, list(first.headers), first.data)


def test_a_full_query_cache_does_not_slow_plain_registry_queries(db, make_app, monkeypatch):
    # A client sending many distinct query strings fills the bounded cache of parsed ones (registry/api/common.py);
    # the plain `?registry=<slug>` form is read without it.
    monkeypatch.setattr(common, "_REGISTRY_BY_QUERY", {f"registry=default&n={n}": "default" for n in range(1024)})
    client = FlaskCalls(make_app(db))
    client.get("/api/chat/profiles/alpha?registry=team")
    assert took_fast_path(client.get("/api/chat/profiles/alpha?registry=team"))
    client.get("/api/chat/profiles/alpha?registry=team&n=1")
    assert not took_fast_path(client.get("/api/chat/profiles/alpha?registry=team&n=1"))


@pytest.mark.parametrize(("method", "url"), NOT_CACHED)
def test_other_requests_always_go_to_flask(db, make_app, method, url):
    client = FlaskCalls(make_app(db))
    for _ in range(3):
        response = client.open(url, method=method)
        assert not took_fast_path(response)


def test_a_write_is_seen_by_the_next_request(db, make_app):
    client = FlaskCalls(make_app(db))
    client.get("/api/chat/profiles/beta")
    assert took_fast_path(hit := client.get("/api/chat/profiles/beta")) and "display_name" not in hit.get_json()
    write_row(db, "default", registry_payload("default", {"alpha": {}, "beta": {"display_name": "B2"}}))
    after = client.get("/api/chat/profiles/beta")
    assert after.get_json().get("display_name") == "B2" and not took_fast_path(after)
    assert took_fast_path(client.get("/api/chat/profiles/beta"))


def test_fast_answers_are_counted_under_their_route(db, make_app):
    client = make_app(db).test_client()
    for _ in range(3):
        client.get("/api/chat/profiles/alpha")
        client.get("/api/chat/profiles")
    text = client.get("/metrics").get_data(as_text=True)
    counted = 'profile_registry_http_requests_total{method="GET",route="%s",status="200"} 3.0'
    assert counted % "/api/chat/profiles/<slug>" in text
    assert counted % "/api/chat/profiles" in text


def raw_answer(base: str, url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=10)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        # Date changes from one second to the next; every other header must be the same.
        return response.status, [h for h in response.getheaders() if h[0] != "Date"], response.read()
    finally:
        conn.close()


def test_under_waitress_both_paths_send_the_same_bytes(db, make_app, live_server):
    server = live_server(make_app(db))
    for url in ("/api/chat/profiles/alpha?registry=team", "/api/chat/profiles"):
        first, second = raw_answer(server.url, url), raw_answer(server.url, url)
        assert first[0] == 200 and first == second
