"""Guards added in the last sessions that had no attacker's or careless operator's test of their own.

Found by rereading `git diff 2601068..` for every refusal and grepping the tests for it: a DSN that does not
parse, a password in a DSN that must not reach the terminal, `restore --expect` values, YAML constructs the
bounded loader refuses (a merge key on a scalar, a non-string mapping key), and the reserved-prefix rule for
`api_key_env` under a case trick. Each goes through the real entry point (a `serve`/`import`/`restore` process,
the admin API of a real app on a real file).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.web.auth import AdminToken

from ._support import child_env, run_serve_expecting_exit

SECRET_PASSWORD = "s3cret-pw-never-printed"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args], cwd=cwd, env=child_env(), capture_output=True, text=True,
        timeout=60, check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://alice:{SECRET_PASSWORD}@127.0.0.1:5432/db?sslmode=nonsense&connect_timeout=x",
        f"postgresql://alice:{SECRET_PASSWORD}@[::1:5432/db",
    ],
)
def test_a_dsn_that_does_not_parse_is_one_line_without_its_password(tmp_path: Path, dsn: str) -> None:
    done = run_serve_expecting_exit(["--profile-registries", dsn], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    line = one_line(done)
    assert SECRET_PASSWORD not in done.stderr + done.stdout, line
    assert "PostgreSQL" in line or "postgresql" in line, line


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    dsn = f"postgresql://alice:{SECRET_PASSWORD}@127.0.0.1:1/db?connect_timeout=2"
    done = run_serve_expecting_exit(["--profile-registries", dsn], tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    line = one_line(done)
    assert SECRET_PASSWORD not in done.stderr + done.stdout, line


@pytest.mark.parametrize("value", ["default", "=5", "default=1.5", "default=-3", "default=²", "default=  "])
def test_restore_expect_values_are_refused_at_parse_time(seeded_db: Path, value: str) -> None:
    folder = seeded_db.parent
    done = run_cli("restore", "anything", "--db", str(seeded_db), "--registry", "default", "--expect", value,
                   cwd=folder)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "--expect" in one_line(done)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("slug: odd\nprofiles:\n  p:\n    inference_settings: {<<: 1}\n", "merge key"),
        ("slug: odd\nprofiles:\n  p:\n    inference_settings: {? [1, 2] : x}\n", "mapping key must be a string"),
        ("slug: odd\nprofiles:\n  p:\n    inference_settings: {? {a: 1} : x}\n", "mapping key must be a string"),
    ],
)
def test_import_refuses_yaml_the_bounded_loader_cannot_map_to_json(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "odd.yaml").write_text(text, encoding="utf-8")
    done = run_cli("import", "odd.yaml", "--profile-registries", "p.db", cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    line = one_line(done)
    assert reason in line and "line 4" in line, line
    if (tmp_path / "p.db").exists():
        conn = sqlite3.connect(tmp_path / "p.db")
        try:
            assert conn.execute("SELECT count(*) FROM profile_registries").fetchone() == (0,)
        finally:
            conn.close()


@pytest.mark.parametrize("name", ["profile_registry_token", "Profile_Registry_Token", "PROFILE_REGISTRY_X_API_KEY"])
def test_a_profile_cannot_name_the_services_own_variables_in_any_case(tmp_path: Path, make_app, name: str) -> None:
    db = tmp_path / "p.db"
    write_row(db, "default", registry_payload("default", {"alpha": {}}))
    app = make_app(db, WRITABLE=True, ADMIN_TOKENS=[AdminToken("alice", "audit-token")],
                   API_KEY_ENV_ALLOWED=["*"])  # even the widest allow-list never opens the reserved prefix
    response = app.test_client().patch(
        "/api/chat/profiles/alpha?registry=default",
        json={"inference_settings": {"api": {"api_key_env": name}}},
        headers={"Authorization": "Bearer audit-token"},
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "never readable" in json.dumps(response.get_json())
    conn = sqlite3.connect(db)
    try:
        payload = json.loads(conn.execute("SELECT payload_json FROM profile_registries").fetchone()[0])
    finally:
        conn.close()
    assert "api" not in json.dumps(payload["profiles"]["alpha"].get("inference_settings") or {})  # nothing written
