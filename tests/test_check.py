"""`profile-registry check` against a real waitress server: pass/fail lines and the exit code."""

from __future__ import annotations

from pathlib import Path

from conftest import registry_payload, write_row

from registry.storage import backups
from registry import create_app
from registry.domain.catalog import default_catalog
from registry.cli import main
from registry.service.registry_service import RegistryService


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
    snapshot = backups.create_backup(seeded_db)
    write_row(seeded_db, "default", registry_payload("default", {"default": {}}), 1_900_000_000_000)
    code, lines = run_check(capsys, "--url", server.url, "--db", str(seeded_db), "--from-snapshot", snapshot.name)
    assert code == 1
    assert failed(lines) == ["FAIL  profile default/analyst: missing from GET /api/chat/profiles"]
    backups.restore_snapshot(seeded_db, snapshot.path)
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
    assert [line.split(":")[0] for line in failed(lines)] == ["FAIL  middlewares catalog", "FAIL  extensions catalog"]
    assert "empty" in failed(lines)[0]


def test_fails_when_nothing_answers(capsys):
    code, lines = run_check(capsys, "--url", "http://127.0.0.1:9", "--timeout", "2")
    assert code == 1
    assert failed(lines)[0].startswith("FAIL  profile list: cannot reach")


def test_one_chat_request_with_mock_parity_is_sent_by_default(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url)
    assert code == 0, lines
    chat = [line for line in lines if "chat with" in line]
    assert len(chat) == 1 and chat[0].startswith("PASS  chat with mock_parity: session ") and chat[0].endswith(" finished")
    code, lines = run_check(capsys, "--url", server.url, "--no-chat")
    assert code == 0, lines
    assert not [line for line in lines if "chat with" in line]


def test_chat_request_with_an_unknown_profile_fails(seeded_db, make_app, live_server, capsys):
    server = live_server(make_app(seeded_db))
    code, lines = run_check(capsys, "--url", server.url, "--chat-profile", "nonesuch")
    assert code == 1
    assert failed(lines)[0].startswith("FAIL  chat with nonesuch: 400")


def test_from_snapshot_without_manifest_is_an_error(seeded_db, tmp_path, capsys):
    foreign = tmp_path / "copy.db"
    foreign.write_bytes(Path(seeded_db).read_bytes())
    code, lines = run_check(capsys, "--from-snapshot", str(foreign))
    assert code == 2
    assert lines == ["profile-registry check: error: copy.db has no manifest to take expectations from"]
