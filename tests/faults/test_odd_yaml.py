"""YAML that is not JSON (issues 15 and 11): `import` and YAML sources answer one line with the position.

Each file below printed a traceback, hung or served 500s before the bounded loader (registry/domain/yaml_json.py).
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry.domain.yaml_json import YAMLLimits, YAMLRefused, load_json_yaml

from ._support import child_env


def bomb(levels: int, width: int = 10) -> str:
    """The classic alias bomb: each anchor is a list of `width` aliases of the previous one (width**levels leaves)."""
    lines = ["slug: bomb", "profiles:", "  boom:", "    inference_settings:", '      a0: &a0 ["xxxxxxxx", "xxxxxxxx"]']
    for i in range(1, levels + 1):
        lines.append(f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


ODD = {
    "binary": ("slug: odd\nprofiles:\n  p:\n    description: !!binary aGVsbG8=\n", "line 4, column 18", "!!binary"),
    "set": ("slug: odd\nprofiles:\n  p:\n    extensions: !!set {a, b}\n", "line 4, column 17", "!!set"),
    "nan": (
        "slug: odd\nprofiles:\n  p:\n    inference_settings: {chat: {temperature: .nan}}\n",
        "line 4, column 46",
        ".nan",
    ),
    "deep": (
        "slug: odd\nprofiles:\n  p:\n    inference_settings: " + "[" * 5000 + "]" * 5000 + "\n",
        "line 4",
        "deeper than 100",
    ),
    "bomb": (bomb(9), "line ", "expands to more than"),
    "recursive": ("slug: odd\nprofiles:\n  p:\n    inference_settings: &x {a: *x}\n", "line 4", "recursive"),
    "surrogate": ('slug: odd\nprofiles:\n  p:\n    description: "\\ud800"\n', "line 4, column 18", "surrogate"),
    "huge int": ("slug: odd\nprofiles:\n  p:\n    inference_settings: {n: " + "7" * 5000 + "}\n", "line 4", "too long"),
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kind", sorted(ODD))
def test_import_of_odd_yaml_is_one_line_with_the_position(tmp_path: Path, kind: str) -> None:
    text, position, reason = ODD[kind]
    (tmp_path / "odd.yaml").write_text(text, encoding="utf-8")
    started = time.monotonic()
    done = run_cli("import", "odd.yaml", "--profile-registries", "p.db", cwd=tmp_path)
    assert time.monotonic() - started < 20
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert position in lines[0] and reason in lines[0], lines[0]
    if (tmp_path / "p.db").exists():
        conn = sqlite3.connect(tmp_path / "p.db")
        try:
            assert conn.execute("SELECT count(*) FROM profile_registries WHERE slug = 'odd'").fetchone() == (0,)
        finally:
            conn.close()


def test_a_yaml_date_is_read_as_a_string_and_served(tmp_path: Path, make_app) -> None:
    # The reference's YAML library reads an unquoted date into a string; so do we (it used to become a date
    # object that no JSON answer could hold: 500).
    source = tmp_path / "dated.yaml"
    source.write_text("slug: dated\nprofiles:\n  default:\n    description: 2024-01-31\n", encoding="utf-8")
    client = make_app(source).test_client()
    answer = client.get("/api/chat/profiles/default?registry=dated")
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["description"] == "2024-01-31"


@pytest.mark.parametrize("kind", ["binary", "set", "nan", "deep", "surrogate"])
def test_yaml_source_with_odd_values_stops_the_start_with_one_line(tmp_path: Path, kind: str) -> None:
    text, position, reason = ODD[kind]
    (tmp_path / "odd.yaml").write_text(text, encoding="utf-8")
    done = run_cli("serve", "--profile-registries", "odd.yaml", "--port", "0", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and position in line and reason in line, done.stderr[-2000:]


def test_alias_bomb_source_is_quarantined_and_no_request_expands_it(tmp_path: Path, make_app, live_server) -> None:
    # 9 levels of 10 aliases: about a GiB once expanded; a small limit keeps the test cheap either way.
    source = tmp_path / "bomb.yaml"
    source.write_text(bomb(9), encoding="utf-8")
    assert source.stat().st_size < 1024
    db = tmp_path / "p.db"
    app = make_app(db, source, REGISTRY_MAX_EXPANDED_BYTES=64 * 1024)
    server = live_server(app)
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(server.url + path, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    status, body = get("/api/health")
    health = json.loads(body)
    assert health["status"] == "degraded", health
    reasons = {q["slug"]: q["reason"] for q in health["quarantined"]}
    assert re.search(r"line \d+, column \d+: the document expands to more than 65536 bytes", reasons["bomb"]), reasons
    started = time.monotonic()
    status, body = get("/api/chat/profiles/boom/resolved?registry=bomb")
    assert status == 500 and b"expands to more than" in body, (status, body[:300])
    status, _ = get("/registries/bomb/profiles/boom")
    assert status == 500
    assert time.monotonic() - started < 10


def test_loader_limits_are_settings() -> None:
    with pytest.raises(YAMLRefused, match="deeper than 3 levels"):
        load_json_yaml("a: [[[1]]]\n", YAMLLimits(max_depth=3))
    assert load_json_yaml("a: [[1]]\n", YAMLLimits(max_depth=3)) == {"a": [[1]]}
    with pytest.raises(YAMLRefused, match="more than 100 bytes") as refused:
        load_json_yaml("slug: s\nx: &x ['" + "y" * 30 + "']\nz: [*x, *x, *x]\n", YAMLLimits(max_expanded_bytes=100))
    assert refused.value.too_large and refused.value.slug == "s"
    # Aliases and merge keys still work, and what comes back is never shared between two places.
    value = load_json_yaml("base: &b {x: 1, y: [2]}\nchild: {<<: *b, y: [3]}\nagain: *b\n")
    assert value == {"base": {"x": 1, "y": [2]}, "child": {"x": 1, "y": [3]}, "again": {"x": 1, "y": [2]}}
    assert value["base"] is not value["again"]
