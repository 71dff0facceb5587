"""Security properties: owner-only files, the admin token never in logs or bodies, the reference's cookie flags."""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import re
import stat
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ._support import ServeProcess, child_env

POSIX = os.name == "posix"
SECRET = "s3cret-Token-7f3a9c1e5b"
TOKEN_LINE = f"alice:{SECRET}"


def permissive_umask() -> None:
    """preexec_fn: umask 000, so owner-only modes must come from the code, not from the runner's umask."""
    os.umask(0)


def exposed(path: Path) -> str | None:
    """The file's mode if group or others may read or write it, else None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    return f"{path.name}: {mode:o}" if mode & 0o077 else None


@pytest.fixture
def writable_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """`serve --writable` with no source: it creates and seeds ./data/profiles.db itself, under umask 000."""
    server = ServeProcess(
        ["--writable"], tmp_path, preexec_fn=permissive_umask if POSIX else None, PROFILE_REGISTRY_TOKEN=TOKEN_LINE
    )
    yield server
    server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", "Content-Type": "application/json"}


@pytest.mark.skipif(not POSIX, reason="mode bits are POSIX; Windows uses folder ACLs (README)")
def test_database_and_snapshots_are_owner_only(writable_server: ServeProcess, tmp_path: Path) -> None:
    server = writable_server
    body = json.dumps({"slug": "secrets", "metadata": {}}).encode()
    status, _, answer = server.request("PUT", "/api/registries/secrets", body, bearer(SECRET))
    assert status in (200, 201), answer
    status, _, answer = server.request("POST", "/api/backups", b"{}", bearer(SECRET))
    assert status == 201, answer
    data = tmp_path / "data"
    files = sorted(p for p in data.iterdir() if p.is_file())
    names = [p.name for p in files]
    assert "profiles.db" in names
    assert any(".bak." in n for n in names), names
    # The -wal and -shm files are included when they exist; SQLite gives them the main file's mode.
    assert [e for e in map(exposed, files) if e] == []

    # The CLI's own snapshot, and the safety snapshot a restore takes first, are owner-only as well.
    env = child_env()
    result = subprocess.run(
        [sys.executable, "-m", "registry", "backup", "--db", str(data / "profiles.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=permissive_umask,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    snapshot = json.loads(server.request("GET", "/api/backups", headers=bearer(SECRET))[2])
    items = snapshot if isinstance(snapshot, list) else snapshot.get("snapshots", snapshot.get("items", []))
    name = items[-1]["name"]
    status, _, answer = server.request("POST", f"/api/backups/{name}/restore", b"{}", bearer(SECRET))
    assert status == 200, answer
    files = sorted(p for p in data.iterdir() if p.is_file())
    assert len([p for p in files if ".bak." in p.name and not p.name.endswith(".json")]) >= 3
    assert [e for e in map(exposed, files) if e] == []


def _login(server: ServeProcess, token: str) -> tuple[int, str, list[str]]:
    """The dashboard login form, as a browser posts it (CSRF token from the form, session cookie kept)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(server.url + "/login", timeout=30) as response:
        page = response.read().decode()
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"\s+name="csrf_token"', page
    )
    assert match, "login form has no CSRF field"
    form = urllib.parse.urlencode({"csrf_token": match.group(1), "token": token, "next": "/"}).encode()
    try:
        with opener.open(urllib.request.Request(server.url + "/login", data=form), timeout=30) as response:
            status, body = response.status, response.read().decode()
            cookies = response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        status, body, cookies = exc.code, exc.read().decode(), exc.headers.get_all("Set-Cookie") or []
    return status, body, cookies + [f"{c.name}={c.value}" for c in jar]


def test_admin_token_never_appears_in_logs_or_bodies(writable_server: ServeProcess) -> None:
    server = writable_server
    seen: list[str] = []

    def call(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
        status, response_headers, answer = server.request(method, path, body, headers)
        seen.append(answer.decode("utf-8", "replace"))
        seen.extend(f"{k}: {v}" for k, v in response_headers.items())
        return status

    payload = json.dumps({"slug": "tok", "metadata": {}}).encode()
    basic = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    # Near misses of the real token: each must be refused without being echoed or logged.
    for headers in (
        {"Content-Type": "application/json"},
        bearer(SECRET + "x"),
        bearer(SECRET[:-1]),
        bearer(SECRET.upper()),
        bearer(TOKEN_LINE),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
        {"Authorization": SECRET, "Content-Type": "application/json"},
    ):
        assert call("PUT", "/api/registries/tok", payload, headers) == 401
    # The real token: a write, a refused body, an oversized body, a missing resource, a backup.
    assert call("PUT", "/api/registries/tok", payload, bearer(SECRET)) in (200, 201)
    assert call("PUT", "/api/registries/tok", b'{"slug": 5}', bearer(SECRET)) in (400, 422)
    assert call("PUT", "/api/registries/tok", b"{" + b" " * (2 << 20) + b"}", bearer(SECRET)) == 413
    assert call("DELETE", "/api/registries/absent", None, bearer(SECRET)) in (204, 404)
    assert call("POST", "/api/backups", b"{}", bearer(SECRET)) == 201
    assert call("POST", "/api/chat/profiles", b"not json", bearer(SECRET)) == 400
    # The dashboard login form: a wrong token and the right one.
    status, body, cookies = _login(server, SECRET + "x")
    seen.append(body)
    seen.extend(cookies)
    status, body, cookies = _login(server, SECRET)
    assert status == 200
    seen.append(body)
    seen.extend(cookies)
    server.stop()
    log = server.log()
    assert "rejected" in log or "refused" in log, "the refusals should be logged (without the token)"
    for text in (log, *seen):
        assert SECRET not in text
        assert SECRET[:-1] not in text
        assert basic not in text


def test_cookie_flags_match_the_reference(writable_server: ServeProcess) -> None:
    status, headers, body = writable_server.request(
        "POST", "/api/chat/profile", json.dumps({"profile": "analyst"}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 200, body
    assert json.loads(body) == {"profile": "analyst", "registry": "default"}
    # Exactly the reference's serialisation (contract §4.4): qualified value, Path, HttpOnly, Secure, SameSite=Lax.
    assert headers["Set-Cookie"] == "chat_profile=default/analyst; Path=/; HttpOnly; Secure; SameSite=Lax"
