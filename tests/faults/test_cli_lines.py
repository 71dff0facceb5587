"""The command line answers in one line: options are checked at parse time, Ctrl-C during a backup says so."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._support import START_TIMEOUT, child_env, registry_json

BAD_SERVE_OPTIONS = [
    (["--port", "99999"], "argument --port: port 99999 is out of range (0-65535"),
    (["--port", "-1"], "argument --port: port -1 is out of range (0-65535"),
    (["--port", "80x"], "argument --port: port must be a whole number, not '80x'"),
    (["--host", "no-such-host.invalid"], "argument --host: unknown host 'no-such-host.invalid'"),
    (["--threads", "0"], "argument --threads: threads 0 is out of range (1-256)"),
]


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize(("options", "expected"), BAD_SERVE_OPTIONS, ids=[" ".join(o) for o, _ in BAD_SERVE_OPTIONS])
def test_a_bad_serve_option_is_one_line_and_exit_2_before_anything_starts(tmp_path, options, expected):
    # Last on the line, so that a server that did start would be listening on a free port, not on 8080.
    result = run_cli(["serve", "--profile-registries", "p.db", *options], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"profile-registry serve: error: {expected}"), lines[0]
    assert not (tmp_path / "p.db").exists()  # refused before any source was opened


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["backup", "--keep", "-3"], "profile-registry backup: error: argument --keep: -3 is negative"),
        (["backup", "--max-age", "nan"], "profile-registry backup: error: argument --max-age: 'nan' must be a finite"),
        (["check", "--timeout", "0"], "profile-registry check: error: argument --timeout: '0' must be a finite"),
    ],
)
def test_other_numeric_options_are_checked_at_parse_time(tmp_path, args, expected):
    result = run_cli(args, tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(expected), result.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_during_a_backup_says_interrupted_nothing_written_and_exits_130(tmp_path):
    db = tmp_path / "profiles.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE profile_registries (slug TEXT PRIMARY KEY, payload_json TEXT NOT NULL, "
        "updated_at_ms INTEGER NOT NULL DEFAULT 0)"
    )
    # About 48 MB, so the backup (copy, check, hash) is still running when the signal comes.
    for i in range(24):
        conn.execute(
            "INSERT INTO profile_registries VALUES (?, ?, 1)", (f"r{i}", registry_json(f"r{i}", "x" * 2_000_000))
        )
    conn.commit()
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry", "backup", "--db", str(db)],
        cwd=tmp_path,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    # The backup's temporary file appears once it has started copying: that is when Ctrl-C comes.
    while not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=START_TIMEOUT)
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "profile-registry backup: interrupted, nothing written", err
    assert "Traceback" not in err
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before
