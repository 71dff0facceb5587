"""Hostile clients against `python -m registry serve` on loopback (issue 11): each costs a 4xx or a bounded amount.

Every test here failed on the code before the fix it covers; the server is a real child process, so its log,
memory and threads are the ones an operator would see.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.web.app_state import app_state

from ._support import ServeProcess, run_serve_expecting_exit

SECRET = "hostile-Token-5d1e9a"
AUTH = {"Authorization": f"Bearer {SECRET}", "Accept": "application/json", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """`serve --writable` on its own seeded ./data/profiles.db (shared by the module's tests: they write nothing)."""
    cwd = tmp_path_factory.mktemp("hostile")
    server = ServeProcess(["--writable"], cwd, PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}")
    server.cwd = cwd  # type: ignore[attr-defined]
    yield server
    server.stop()


def rows(db: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT slug, payload_json, updated_at_ms FROM profile_registries ORDER BY slug").fetchall()
    finally:
        conn.close()


# Bodies that Python's json module accepts (or crashes on) and strict JSON does not.
NOT_JSON = {
    "NaN": b'{"slug": "nan", "display_name": "x", "expected_version": NaN, "prompt": "hi", "profile": "mock_parity"}',
    "Infinity": b'{"slug": "inf", "display_name": "x", "inference_settings": {"t": -Infinity}, "prompt": "hi"}',
    "lone surrogate": b'{"slug": "sur", "display_name": "\\ud800", "prompt": "\\udfff", "profile": "\\ud800"}',
    "huge integer": b'{"slug": "big", "expected_version": ' + b"9" * 5000 + b', "prompt": "hi"}',
    "out of range": b'{"slug": "rng", "inference_settings": {"t": 1e999}, "prompt": "hi"}',
}
REASONS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "lone surrogate": "surrogate",
    "huge integer": "digits",
    "out of range": "out of range",
}
WRITE_ROUTES = [
    ("POST", "/api/chat/profiles"),
    ("PATCH", "/api/chat/profiles/analyst"),
    ("POST", "/api/chat/profiles/analyst/default"),
    ("PUT", "/api/registries/hostile"),
    ("POST", "/api/chat/profile"),  # unauthenticated, the reference's plain-text route
    ("POST", "/api/chat/sessions"),
    ("POST", "/api/chat/sessions/4b1d2c3e-0000-4000-8000-000000000000/messages"),
]


@pytest.mark.parametrize("kind", sorted(NOT_JSON))
@pytest.mark.parametrize("method, path", WRITE_ROUTES)
def test_body_that_is_not_strict_json_is_400_with_the_reason(
    writable: ServeProcess, method: str, path: str, kind: str
) -> None:
    db = writable.cwd / "data" / "profiles.db"  # type: ignore[attr-defined]
    before = rows(db)
    log_before = len(writable.log_lines)
    status, _, answer = writable.request(method, path, NOT_JSON[kind], AUTH)
    text = answer.decode("utf-8", "replace")
    assert status == 400, (status, text[:300])
    assert REASONS[kind] in text, text[:300]
    assert rows(db) == before
    new_log = writable.log_lines[log_before:]
    assert len(new_log) <= 1 and "Traceback" not in "".join(new_log), new_log


@pytest.mark.parametrize("value", ["²", "①", "٣", "1" * 5000])
def test_expected_version_query_that_is_not_ascii_digits_is_400(writable: ServeProcess, value: str) -> None:
    from urllib.parse import quote

    for path in (
        f"/api/chat/profiles/analyst?expected_version={quote(value)}",
        f"/api/registries/nope?expected_version={quote(value)}",
    ):
        log_before = len(writable.log_lines)
        status, _, answer = writable.request("DELETE", path, None, AUTH)
        assert status == 400, (path[:80], status, answer[:200])
        assert json.loads(answer)["message"] == "invalid expected_version"
        assert "Traceback" not in "".join(writable.log_lines[log_before:])


class Tricklers:
    """`count` connections that send a request's headers one line per second and never finish them."""

    def __init__(self, url: str, count: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"GET /api/chat/profiles HTTP/1.1\r\nHost: x\r\n")
            self.sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.wait(1.0):
            for i, sock in enumerate(self.sockets):
                try:
                    sock.sendall(f"X-Slow-{i}: {time.monotonic():.0f}\r\n".encode())
                except OSError:
                    pass  # closed by the server: that is allowed

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def timed_get(url: str, path: str, timeout: float) -> tuple[int, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url + path, timeout=timeout) as response:
        response.read()
        return response.status, time.monotonic() - started


def test_128_slow_clients_do_not_lock_out_a_normal_get(tmp_path: Path) -> None:
    server = ServeProcess([], tmp_path)
    slow = None
    try:
        slow = Tricklers(server.url, 128)
        time.sleep(2.5)  # every slow connection accepted and trickling
        status, seconds = timed_get(server.url, "/api/chat/profiles", timeout=15)
        assert status == 200 and seconds < 2.0, seconds
        slow.close()
        slow = None
        status, seconds = timed_get(server.url, "/api/chat/profiles", timeout=15)
        assert status == 200 and seconds < 2.0, seconds
    finally:
        if slow is not None:
            slow.close()
        server.stop()


def test_serve_refuses_waitress_limits_out_of_range_in_one_line(tmp_path: Path) -> None:
    for flag, value in (("--connection-limit", "0"), ("--channel-timeout", "-5"), ("--max-request-header-size", "x")):
        done = run_serve_expecting_exit([flag, value], tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert re.search(rf"argument {flag}: .*(out of range|whole number)", done.stderr), done.stderr


# --- chat: every dimension an anonymous client can grow is bounded --------------------------------------------------

SESSION_A = "0a000000-0000-4000-8000-00000000000a"
SESSION_B = "0b000000-0000-4000-8000-00000000000b"
SESSION_C = "0c000000-0000-4000-8000-00000000000c"


def chat_server(make_app, live_server, tmp_path: Path, **limits: object):  # type: ignore[no-untyped-def]
    app = make_app(tmp_path / "chat.db", **limits)
    return app, live_server(app)


def post_message(url: str, session: str, prompt: str) -> tuple[int, dict[str, str], dict[str, object]]:
    body = json.dumps({"prompt": prompt, "profile": "mock_parity"}).encode()
    request = urllib.request.Request(f"{url}/api/chat/sessions/{session}/messages", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def entities(url: str, session: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/chat/sessions/{session}", timeout=30) as response:
        return json.loads(response.read())["entities"]


def test_oversized_prompt_is_413_and_nothing_is_kept(tmp_path: Path, make_app, live_server) -> None:
    _, server = chat_server(make_app, live_server, tmp_path, CHAT_MAX_PROMPT_BYTES=1000)
    status, _, body = post_message(server.url, SESSION_A, "é" * 501)  # 1,002 bytes of UTF-8
    assert status == 413 and "CHAT_MAX_PROMPT_BYTES" in str(body["error"]), body
    assert entities(server.url, SESSION_A) == []
    assert post_message(server.url, SESSION_A, "é" * 500)[0] == 200


def test_messages_per_session_are_bounded(tmp_path: Path, make_app, live_server) -> None:
    _, server = chat_server(
        make_app, live_server, tmp_path, CHAT_MAX_MESSAGES_PER_SESSION=3, CHAT_MOCK_CHUNK_DELAY_MS=0
    )
    assert [post_message(server.url, SESSION_A, f"m{i}")[0] for i in range(3)] == [200, 200, 200]
    status, _, body = post_message(server.url, SESSION_A, "one too many")
    assert status == 429 and "CHAT_MAX_MESSAGES_PER_SESSION" in str(body["error"]), body
    assert post_message(server.url, SESSION_B, "another session is fine")[0] == 200


def test_idle_sessions_are_dropped(tmp_path: Path, make_app, live_server) -> None:
    app, server = chat_server(make_app, live_server, tmp_path, CHAT_SESSION_IDLE_SECONDS=1, CHAT_MOCK_CHUNK_DELAY_MS=0)
    assert post_message(server.url, SESSION_A, "hello")[0] == 200
    app_state(app).chat_sessions.join()
    time.sleep(1.5)
    assert post_message(server.url, SESSION_B, "hello")[0] == 200
    assert entities(server.url, SESSION_A) == []  # idle past the limit: dropped
    assert entities(server.url, SESSION_B) != []


def test_kept_sessions_are_bounded_by_their_total_size(tmp_path: Path, make_app, live_server) -> None:
    app, server = chat_server(
        make_app, live_server, tmp_path, CHAT_MAX_SESSIONS_BYTES=100_000, CHAT_MOCK_CHUNK_DELAY_MS=0
    )
    for session in (SESSION_A, SESSION_B, SESSION_C):
        assert post_message(server.url, session, "x" * 40_000)[0] == 200
        app_state(app).chat_sessions.join()
    assert entities(server.url, SESSION_A) == []  # the least recently used one made room
    assert entities(server.url, SESSION_B) != [] and entities(server.url, SESSION_C) != []


def test_a_flood_of_messages_runs_on_a_bounded_pool_and_the_rest_is_503_with_retry_after(
    tmp_path: Path, make_app, live_server
) -> None:
    app, server = chat_server(
        make_app, live_server, tmp_path, CHAT_MAX_CONCURRENT_RUNS=2, CHAT_MAX_QUEUED_RUNS=5, CHAT_MOCK_CHUNK_DELAY_MS=40
    )
    threads_before = threading.active_count()
    answers: list[tuple[int, dict[str, str], dict[str, object]]] = []
    lock = threading.Lock()
    peak = [0]

    def post(i: int) -> None:
        answer = post_message(server.url, f"{SESSION_A[:-2]}{i % 7:02d}", f"hello {i}")
        with lock:
            answers.append(answer)
            peak[0] = max(peak[0], threading.active_count())

    workers = [threading.Thread(target=post, args=(i,)) for i in range(60)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    statuses = sorted({a[0] for a in answers})
    assert statuses == [200, 503], statuses
    accepted = sum(1 for a in answers if a[0] == 200)
    assert accepted <= 2 + 5 + 7, accepted  # at most running + queued (+ runs that ended during the flood)
    refused = next(a for a in answers if a[0] == 503)
    assert refused[1].get("Retry-After", "").isdigit() and "CHAT_MAX_QUEUED_RUNS" in str(refused[2]["error"])
    chat_threads = [t for t in threading.enumerate() if t.name.startswith("chat-")]
    assert len(chat_threads) <= 2, [t.name for t in chat_threads]
    app_state(app).chat_sessions.join(timeout=30)
    assert threading.active_count() <= threads_before + 2


# --- a profile cannot read the server's secrets ----------------------------------------------------------------------


class CaptureUpstream:
    """An HTTP server that records every request's Authorization header and answers 500."""

    def __init__(self) -> None:
        import http.server

        seen = self.authorizations = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(self.headers.get("Authorization"))
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # shutdown() only ends the loop; the listening socket is closed here


def test_a_profile_cannot_name_the_services_own_token_or_unlisted_variables(tmp_path: Path) -> None:
    from conftest import registry_payload, write_row

    upstream = CaptureUpstream()
    db = tmp_path / "p.db"
    stolen = {"api": {"base_url": upstream.url, "api_key_env": "PROFILE_REGISTRY_TOKEN"}, "chat": {"engine": "m"}}
    write_row(db, "evil", registry_payload("evil", {"thief": {"inference_settings": stolen}}))
    server = ServeProcess(
        ["--profile-registries", str(db), "--writable"],
        tmp_path,
        PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}",
        HOME_SECRET="x",
    )
    try:
        # Written behind the service's back: the run is refused before the environment is read or a request sent.
        body = json.dumps({"prompt": "hi", "profile": "thief", "registry": "evil"}).encode()
        status, _, answer = server.request("POST", f"/api/chat/sessions/{SESSION_A}/messages", body, AUTH)
        assert status == 400 and "PROFILE_REGISTRY_" in answer.decode(), answer
        assert upstream.authorizations == []
        status, _, answer = server.request("GET", "/api/chat/profiles/thief/resolved?registry=evil")
        engine = json.loads(answer)["engine"]
        assert engine["api_key_env"] == "PROFILE_REGISTRY_TOKEN" and "api_key_set" not in engine, engine
        assert "never readable" in engine["api_key_env_refused"]
        # Through the API: 400 naming the rule, nothing written.
        before = rows(db)
        for name, rule in (("PROFILE_REGISTRY_TOKEN", "PROFILE_REGISTRY_"), ("HOME_SECRET", "API_KEY_ENV_ALLOWED")):
            settings = {"api": {"base_url": upstream.url, "api_key_env": name}, "chat": {"engine": "m"}}
            payload = json.dumps({"slug": f"p-{name.lower().replace('_', '-')}", "inference_settings": settings})
            status, _, answer = server.request("POST", "/api/chat/profiles?registry=evil", payload.encode(), AUTH)
            assert status == 400 and rule in json.loads(answer)["message"], answer
        assert rows(db) == before
        allowed = {"api": {"base_url": upstream.url, "api_key_env": "OPENAI_API_KEY"}, "chat": {"engine": "m"}}
        payload = json.dumps({"slug": "fine", "inference_settings": allowed}).encode()
        assert server.request("POST", "/api/chat/profiles?registry=evil", payload, AUTH)[0] == 201
    finally:
        server.stop()
        upstream.close()


# --- read-only means read-only; logging out ends the session ---------------------------------------------------------


def csrf_in(page: str) -> str:
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"\s+name="csrf_token"', page
    )
    assert match, page[:500]
    return match.group(1)


class Browser:
    """A cookie-keeping client of the dashboard, logged in with the admin token."""

    def __init__(self, url: str) -> None:
        import http.cookiejar

        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())
        form = urllib.parse.urlencode({"csrf_token": csrf_in(self.get("/login")[1]), "token": SECRET, "next": "/"})
        assert self.post("/login", form)[0] == 303
        self.csrf = csrf_in(self.get("/")[1])

    def get(self, path: str) -> tuple[int, str]:
        return self.open(urllib.request.Request(self.url + path))

    def post(self, path: str, form: str, cookie: str | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, data=form.encode())
        if cookie is not None:
            # Replay: the captured cookie header, sent by a client that has no jar of its own.
            request.add_header("Cookie", cookie)
            return open_plain(request)
        return self.open(request)

    def open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def open_plain(request: urllib.request.Request) -> tuple[int, str]:
    opener = urllib.request.build_opener(NoRedirect())
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def snapshots(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("profiles.db.bak.*") if not p.name.endswith(".json"))


def test_restore_needs_writable_over_http_and_in_the_dashboard(tmp_path: Path) -> None:
    # A snapshot taken by a writable instance, then the same data served read-only (a token still configured).
    writable = ServeProcess(["--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}")
    try:
        status, _, answer = writable.request("POST", "/api/backups", b"{}", AUTH)
        assert status == 201, answer
        name = json.loads(answer)["name"]
        assert json.loads(writable.request("GET", "/api/health")[2])["actions"] == {
            "writes": True,
            "restore": True,
            "backup": True,
        }
        body = json.dumps({"slug": "after-snapshot", "metadata": {}}).encode()
        assert writable.request("PUT", "/api/registries/after-snapshot", body, AUTH)[0] in (200, 201)
    finally:
        writable.stop()
    db = tmp_path / "data" / "profiles.db"
    before = rows(db)
    server = ServeProcess([], tmp_path, PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}")
    try:
        health = json.loads(server.request("GET", "/api/health")[2])
        assert health["actions"] == {"writes": False, "restore": False, "backup": True}, health
        status, _, answer = server.request("POST", f"/api/backups/{name}/restore", b"{}", AUTH)
        assert status == 403 and json.loads(answer)["message"] == "store is read-only", answer
        browser = Browser(server.url)
        status, page = browser.post(f"/backups/{name}/restore", urllib.parse.urlencode({"csrf_token": browser.csrf}))
        assert status == 403 and "store is read-only" in page, (status, page[:300])
        assert rows(db) == before  # the registry written after the snapshot is still there
    finally:
        server.stop()


def test_logout_ends_the_session_on_the_server(tmp_path: Path) -> None:
    server = ServeProcess(["--writable"], tmp_path, PROFILE_REGISTRY_TOKEN=f"alice:{SECRET}")
    try:
        browser = Browser(server.url)
        captured, csrf = browser.cookie_header(), browser.csrf
        form = urllib.parse.urlencode({"csrf_token": csrf})
        assert browser.post("/logout", form)[0] == 303
        folder = tmp_path / "data"
        before = snapshots(folder)
        status, page = browser.post("/backups", form, cookie=captured)
        assert status == 403, (status, page[:300])
        assert snapshots(folder) == before
    finally:
        server.stop()


def test_the_session_cookie_is_secure_over_https(tmp_path: Path, make_app) -> None:
    from registry.web.auth import AdminToken

    app = make_app(tmp_path / "p.db", ADMIN_TOKENS=[AdminToken("alice", SECRET)])
    for base, secure in (("https://registry.example", True), ("http://127.0.0.1", False)):
        client = app.test_client()
        page = client.get("/login", base_url=base).get_data(as_text=True)
        response = client.post(
            "/login", data={"csrf_token": csrf_in(page), "token": SECRET, "next": "/"}, base_url=base
        )
        cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
        assert ("; Secure" in cookie) is secure, (base, cookie)


# --- no data can forge the dashboard ---------------------------------------------------------------------------------


def test_registry_text_cannot_break_or_forge_the_overview(tmp_path: Path) -> None:
    from conftest import registry_payload, write_row

    db = tmp_path / "p.db"
    for slug, name in (("sub", "before\u001aafter"), ("forged", "\u001a123\u001a"), ("comment", "<!--age:x:1-->")):
        write_row(db, slug, registry_payload(slug, {"p": {}}) | {"display_name": name})
    server = ServeProcess(["--profile-registries", str(db)], tmp_path)
    try:
        for _ in range(2):  # rendered, then from the page cache
            status, _, body = server.request("GET", "/")
            page = body.decode()
            assert status == 200, page[:300]
            assert "years ago" not in page
            assert "before\u001aafter" in page and "\u001a123\u001a" in page and "&lt;!--age:x:1--&gt;" in page
    finally:
        server.stop()


def test_a_restart_ends_logins_even_with_a_configured_secret_key(tmp_path: Path, make_app) -> None:
    from registry.web.auth import AdminToken

    settings = {
        "ADMIN_TOKENS": [AdminToken("alice", SECRET)],
        "SECRET_KEY": "k" * 64,
        "BACKUP_DIR": str(tmp_path / "b"),
    }
    first = make_app(tmp_path / "p.db", **settings).test_client()
    page = first.get("/login").get_data(as_text=True)
    assert first.post("/login", data={"csrf_token": csrf_in(page), "token": SECRET, "next": "/"}).status_code == 303
    csrf = csrf_in(first.get("/").get_data(as_text=True))
    cookie = first.get_cookie("session")
    assert cookie is not None
    restarted = make_app(tmp_path / "p.db", **settings).test_client()  # same key, a new process's memory
    restarted.set_cookie("session", cookie.value)
    assert restarted.post("/backups", data={"csrf_token": csrf}).status_code == 403
    assert not (tmp_path / "b").exists() or not list((tmp_path / "b").iterdir())


def test_waitress_loop_uses_poll_or_refuses_where_select_would_overflow(monkeypatch, tmp_path) -> None:
    """select() cannot watch descriptor 1024 or above (POSIX) nor more than 512 sockets (Windows): it is kept only
    while the connection limit stays below that; above it poll() on POSIX, and a one-line refusal on Windows."""
    from registry import host_os
    from registry.cli import build_parser
    from registry.cli.serve_limits import waitress_settings
    from registry.domain.errors import StartupError

    def loop_for(limit: int) -> bool:
        args = build_parser().parse_args(["serve", "--connection-limit", str(limit)])
        return bool(waitress_settings(args)["asyncore_use_poll"])

    monkeypatch.setattr(host_os, "WINDOWS", False)
    safe = host_os.select_safe_connections()
    assert safe + 256 <= 1024  # headroom for database files, listener and trigger pipe
    assert loop_for(safe) is False
    assert loop_for(safe + 1) is True
    assert loop_for(4096) is True

    monkeypatch.setattr(host_os, "WINDOWS", True)
    assert loop_for(host_os.select_safe_connections()) is False
    with pytest.raises(StartupError, match="at most 500 on this system"):
        loop_for(501)
    monkeypatch.undo()
    done = run_serve_expecting_exit(["--connection-limit", "501"], tmp_path, PROFILE_REGISTRY_FORCE_WINDOWS="1")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "at most 500 on this system" in done.stderr
