"""`profile-registry backup`, `backups` and `restore` as an operator runs them."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry import host_os
from registry.cli import main
from registry.cli.backup import BACKUP_NICENESS, TerminalProgress
from registry.storage import backups
from registry.storage.sqlite_db import target_from_path


@pytest.fixture(autouse=True)
def niceness_calls(monkeypatch) -> list[object]:
    """`backup` lowers its own CPU priority; called in-process here, it must not lower pytest's for good."""
    calls: list[object] = []
    monkeypatch.setattr(os, "nice", calls.append, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", lambda pid, policy, param: calls.append(policy), raising=False)
    return calls


def test_backup_runs_at_low_cpu_priority_unless_told_otherwise(seeded_db, niceness_calls):
    assert main(["backup", "--db", str(seeded_db)]) == 0
    expected: list[object] = [BACKUP_NICENESS] + ([os.SCHED_IDLE] if hasattr(os, "SCHED_IDLE") else [])
    if host_os.WINDOWS:
        expected = []  # no priority to lower there (registry/host_os.py); the backup itself is the same
    assert niceness_calls == expected
    assert main(["backup", "--db", str(seeded_db), "--priority", "normal"]) == 0
    assert niceness_calls == expected


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling policies")
@pytest.mark.skipif(host_os.WINDOWS, reason="reads back the real POSIX priority; the Windows branch lowers none")
def test_backup_process_really_runs_niced(seeded_db, monkeypatch):
    """In its own process (as operators run it) the niceness is the real one, read back by the process itself."""
    script = (
        "import os, sys; from registry.cli import main; import registry.storage.backups as b; real = b.create_backup\n"
        "def spy(*a, **k):\n    print('nice', os.getpriority(os.PRIO_PROCESS, 0), 'policy', os.sched_getscheduler(0),"
        " file=sys.stderr); return real(*a, **k)\n"
        "b.create_backup = spy; sys.exit(main(sys.argv[1:]))"
    )
    base = os.getpriority(os.PRIO_PROCESS, 0)
    done = subprocess.run(
        [sys.executable, "-c", script, "backup", "--db", str(seeded_db)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"nice {min(base + BACKUP_NICENESS, 19)} policy {os.SCHED_IDLE}" in done.stderr


def slugs(url: str) -> set[str]:
    with urllib.request.urlopen(url + "/api/chat/profiles", timeout=10) as response:
        return {item["slug"] for item in json.load(response)}


def test_backup_prints_the_path_and_backups_lists_it(seeded_db, capsys):
    assert main(["backup", "--db", str(seeded_db)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == seeded_db.parent and path.name.startswith("profiles.db.bak.")
    backups.verify_snapshot(path)
    assert main(["backups", "--db", str(seeded_db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "CREATED", "(UTC)"]
    assert lines[1].split()[0] == path.name
    assert lines[1].split()[-1] == "yes"
    assert "default" in lines[1].split()
    assert main(["backups", "--db", str(seeded_db), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["verified"], list(s["registries"])) for s in listed] == [(path.name, True, ["default"])]


def test_backups_says_a_runbook_copy_can_be_restored(seeded_db, capsys):
    copy = seeded_db.with_name("profiles.db.bak.20260101-000000")
    shutil.copyfile(seeded_db, copy)  # the runbook's `cp`: no manifest
    assert main(["backups", "--db", str(seeded_db)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(copy.name))
    assert row.endswith("no manifest (a copy); restorable: restore checks the file first")
    assert main(["restore", copy.name, "--db", str(seeded_db)]) == 0


def test_backup_dir_source_flags_and_keep(seeded_db, tmp_path, capsys):
    folder = tmp_path / "snaps"
    dsn = f"sqlite-dsn:file:{seeded_db}?_journal_mode=WAL&_busy_timeout=5000"
    for _ in range(3):
        assert main(["backup", "--profile-registries", dsn, "--backup-dir", str(folder), "--keep", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("pruned profiles.db.bak.") == 1
    assert len(backups.list_snapshots(target_from_path(seeded_db), folder)) == 2
    assert main(["backups", "--db", str(seeded_db)]) == 0
    assert "no snapshots" in capsys.readouterr().out


def test_restore_says_a_row_with_the_same_stamp_is_only_the_same_by_its_stamp(seeded_db, capsys):
    """The summary compares updated_at_ms; a row edited in the sqlite3 shell keeps its stamp (runbook walk, row 4)."""
    stamp = backups.live_registries(target_from_path(seeded_db))["default"]
    main(["backup", "--db", str(seeded_db)])
    name = Path(capsys.readouterr().out.strip()).name
    write_row(seeded_db, "default", registry_payload("default", {"edited": {}}), stamp)
    assert main(["restore", name, "--db", str(seeded_db)]) == 0
    assert f"  default: same updated_at_ms (live was {stamp}, now {stamp})" in capsys.readouterr().out


def test_backup_of_a_missing_database_is_one_line_and_creates_nothing(tmp_path, capsys):
    assert main(["backup", "--db", str(tmp_path / "nope.db")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"profile-registry backup: error: database {tmp_path / 'nope.db'} does not exist"
    )
    assert list(tmp_path.iterdir()) == []


def test_restore_by_name_and_refusal_of_a_bad_file(seeded_db, tmp_path, capsys):
    main(["backup", "--db", str(seeded_db)])
    name = Path(capsys.readouterr().out.strip()).name
    write_row(seeded_db, "default", registry_payload("default", {"other": {}}), 1_900_000_000_000)
    assert main(["restore", name, "--db", str(seeded_db)]) == 0
    out = capsys.readouterr().out
    assert f"restored {seeded_db}" in out
    assert "safety snapshot of the previous state:" in out
    assert "default: older (live was 1900000000000" in out
    assert set(backups.live_registries(target_from_path(seeded_db))) == {"default"}
    assert backups.live_registries(target_from_path(seeded_db))["default"] != 1_900_000_000_000
    bad = tmp_path / "notes.txt"
    bad.write_text("not a database\n" * 100)
    before = backups.live_registries(target_from_path(seeded_db))
    assert main(["restore", str(bad), "--db", str(seeded_db)]) == 1
    err = capsys.readouterr().err.strip()
    assert (
        err
        == (
            "profile-registry restore: error: notes.txt: not a SQLite database (file header is wrong); nothing "
            "was changed"
        )
    )
    assert backups.live_registries(target_from_path(seeded_db)) == before


def test_restore_from_another_process_while_serving(seeded_db, make_app, live_server, capsys):
    """`profile-registry restore` in its own process; the running server answers from the restored rows."""
    server = live_server(make_app(seeded_db))
    main(["backup", "--db", str(seeded_db)])
    name = Path(capsys.readouterr().out.strip()).name
    write_row(seeded_db, "default", registry_payload("default", {"other": {}}), 1_900_000_000_000)
    assert slugs(server.url) == {"other", "mock_parity"}
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-m", "registry", "restore", name, "--db", str(seeded_db)],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert slugs(server.url) == {"analyst", "default", "mock_parity"}


def test_progress_bar_only_on_a_terminal_for_large_files():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = TerminalProgress(100 << 20, tty)
    bar("copy", 100 << 20, 100 << 20)
    bar("check", 5, 10)
    bar("hash", 100 << 20, 100 << 20)
    bar.finish()
    last = tty.getvalue().split("\r")[-1]
    assert last == "[#########################     ]  83%  copy 100%  check  50%  hash 100% \n"
    for stream, size in ((io.StringIO(), 100 << 20), (Tty(), 1 << 20)):
        quiet = TerminalProgress(size, stream)
        quiet("copy", size, size)
        quiet.finish()
        assert stream.getvalue() == ""
