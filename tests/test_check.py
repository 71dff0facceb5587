"""`profile-registry check` against a real waitress server: pass/fail lines and the exit code."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import registry_payload, write_row

from registry import create_app
from registry.cli import main
from registry.domain.catalog import default_catalog
from registry.service.registry_service import RegistryService
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path


def run_check(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def failed(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def test_passes_on_a_healthy_service(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(
        capsys, "--url", server.url, "--expect-profile", "default/analyst", "--expect-default", "default=default"
    )
    assert code == 0, lines
    assert failed(lines) == []
    assert "PASS  profile list: 2 profiles in 1 registries" in lines
    assert "PASS  profile default/analyst: listed" in lines
    assert "PASS  default of default: default resolves" in lines
    assert any(line.startswith("PASS  middlewares catalog: 1: agentmode") for line in lines)
    assert any(
        line.startswith("PASS  extensions catalog:") and "middleware.agentmode_config@v1" in line for line in lines
    )
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"


def test_fails_when_a_profile_disappears_and_passes_after_restore(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    snapshot = backups.create_backup(target_from_path(seeded_db))
    write_row(seeded_db, "default", registry_payload("default", {"default": {}}), 1_900_000_000_000)
    code, lines = run_check(capsys, "--url", server.url, "--db", str(seeded_db), "--from-snapshot", snapshot.name)
    assert code == 1
    assert failed(lines) == ["FAIL  profile default/analyst: missing from GET /api/chat/profiles"]
    backups.restore_snapshot(target_from_path(seeded_db), snapshot.path)
    code, lines = run_check(capsys, "--url", server.url, "--from-snapshot", str(snapshot.path))
    assert code == 0, lines


def test_fails_on_a_wrong_default(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url, "--expect-default", "default=analyst")
    assert code == 1
    assert failed(lines) == ["FAIL  default of default: is 'default', expected 'analyst'"]


def test_fails_when_the_catalogs_are_empty(seeded_db, live_server, capsys):
    service = RegistryService.from_settings([str(seeded_db)], str(seeded_db), None)
    service.catalog = default_catalog(middlewares=(), extensions={})
    app = create_app({"PROFILE_REGISTRIES": [str(seeded_db)]}, service=service)
    try:
        server = live_server(app)
        code, lines = run_check(capsys, "--url", server.url)
    finally:
        service.chain.close()
    assert code == 1
    assert [line.split(":")[0] for line in failed(lines)] == [
        "FAIL  middlewares catalog",
        "FAIL  extensions catalog",
        "FAIL  health",
    ]
    assert "empty" in failed(lines)[0]
    assert failed(lines)[2].startswith("FAIL  health: status 'degraded': middleware catalog is empty")


def test_fails_when_nothing_answers(capsys):
    code, lines = run_check(capsys, "--url", "http://127.0.0.1:9", "--timeout", "2")
    assert code == 1
    assert failed(lines)[0].startswith("FAIL  profile list: cannot reach")


def test_one_chat_request_with_mock_parity_is_sent_by_default(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url)
    assert code == 0, lines
    chat = [line for line in lines if "chat with" in line]
    assert (
        len(chat) == 1 and chat[0].startswith("PASS  chat with mock_parity: session ") and chat[0].endswith(" finished")
    )
    code, lines = run_check(capsys, "--url", server.url, "--no-chat")
    assert code == 0, lines
    assert not [line for line in lines if "chat with" in line]


def test_chat_request_with_an_unknown_profile_fails(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url, "--chat-profile", "nonesuch")
    assert code == 1
    assert failed(lines)[0].startswith("FAIL  chat with nonesuch: 400")


def test_from_a_runbook_cp_copy_the_file_itself_gives_the_expectations(seeded_db, make_app, live_server, tmp_path,
                                                                       capsys):
    """A `cp` copy has no manifest: it is checked as restore checks it, and its rows say what must be served."""
    server = live_server(make_app(seeded_db))
    copy = tmp_path / "profiles.db.bak.20260223-220000"
    copy.write_bytes(Path(seeded_db).read_bytes())
    code, lines = run_check(capsys, "--url", server.url, "--from-snapshot", str(copy), "--no-chat")
    assert code == 0, lines
    assert "PASS  profile default/analyst: listed" in lines
    write_row(seeded_db, "default", registry_payload("default", {"default": {}}), 1_900_000_000_000)
    code, lines = run_check(capsys, "--url", server.url, "--from-snapshot", str(copy), "--no-chat")
    assert code == 1
    assert failed(lines) == ["FAIL  profile default/analyst: missing from GET /api/chat/profiles"]


def test_from_a_snapshot_without_manifest_that_is_not_sound_is_one_line(tmp_path, capsys):
    foreign = tmp_path / "copy.db"
    foreign.write_bytes(b"not a database\n" * 100)
    code, lines = run_check(capsys, "--from-snapshot", str(foreign))
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("profile-registry check: error: copy.db"), lines


def test_fails_naming_a_quarantined_registry_whose_default_does_not_resolve(seeded_db, make_app, live_server, capsys):
    # The registry's default names a profile it does not have: load-time validation quarantines it, health says
    # degraded, and the profile list simply leaves it out. The check must not pass such a service.
    payload = registry_payload("broken", {"one": {}})
    payload["default_profile_slug"] = "missing"
    write_row(seeded_db, "broken", payload)
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url, "--no-chat")
    assert code == 1, lines
    assert failed(lines) == [
        "FAIL  registry broken: quarantined: validation error (registry.default_profile_slug): "
        "default profile does not exist in registry"
    ]
    assert lines[-1].endswith("passed, 1 failed")


class OddServer:
    """Something else on the port: every GET answers 200 with a JSON list of numbers."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"[1, 2, 3]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_odd_server_fails_with_one_line_per_check_and_no_traceback(capsys):
    odd = OddServer()
    try:
        code = main(["check", "--url", odd.url, "--timeout", "5"])
    finally:
        odd.close()
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    assert failed(lines)[0] == "FAIL  profile list: item 0 is a number (1), not a profile object"
    assert all(line.startswith(("PASS", "FAIL")) for line in lines[:-1]), lines
    assert lines[-1].endswith("failed") and not lines[-1].endswith(" 0 failed")


def test_a_registry_without_profiles_in_the_snapshot_is_checked_by_the_registry_filter(
    seeded_db, make_app, live_server, capsys
):
    # Found walking the runbook: a registry with no profiles has no default and is not in the profile list, so
    # `check --from-snapshot` said "registry not served" although it was.
    write_row(seeded_db, "empty", {"slug": "empty", "metadata": {}}, 1_800_000_000_000)
    server = live_server(make_app(seeded_db))
    snapshot = backups.create_backup(target_from_path(seeded_db))
    code, lines = run_check(capsys, "--url", server.url, "--from-snapshot", str(snapshot.path), "--no-chat")
    assert code == 0, lines
    assert "PASS  registry empty: served (no profiles, so no default)" in lines
    write_row(seeded_db, "gone", {"slug": "gone", "metadata": {}}, 1_800_000_000_000)
    snapshot = backups.create_backup(target_from_path(seeded_db))
    conn = sqlite3.connect(seeded_db)
    conn.execute("DELETE FROM profile_registries WHERE slug = 'gone'")
    conn.commit()
    conn.close()
    code, lines = run_check(capsys, "--url", server.url, "--from-snapshot", str(snapshot.path), "--no-chat")
    assert code == 1
    [failure] = failed(lines)
    assert failure.startswith("FAIL  registry gone: not served: 404") and "registry not found" in failure
