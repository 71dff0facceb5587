"""Retention in one process never deletes a snapshot that a backup in another process is still reporting.

Two real processes on one backup folder: a holder (what a `serve` process does between writing a snapshot and
answering for it) and a `profile-registry backup --keep 1` command, whose retention would otherwise delete the
held snapshot at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from registry.storage import backups
from registry.storage.backups import retention
from registry.storage.sqlite_db import target_from_path

from ._support import child_env

HOLDER = """
import sys
from pathlib import Path
from registry.storage.backups import retention
snapshot = Path(sys.argv[1])
retention.hold(snapshot)
print("held", flush=True)
sys.stdin.read()  # until the test closes stdin
retention.release(snapshot)
print("released", flush=True)
"""


def backup_keep_one(db: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", "backup", "--db", str(db), "--backup-dir", str(folder), "--keep", "1"],
        env=child_env(), capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_snapshot_held_by_another_process_survives_retention_until_released(seeded_db: Path, tmp_path: Path):
    folder = tmp_path / "backups"
    target = target_from_path(seeded_db)
    held = backups.create_backup(target, folder).path
    time.sleep(1.05)  # snapshot names have a one-second stamp
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(held)], env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert list(folder.glob(f"{retention.HOLD_PREFIX}{held.name}.*")), "no marker for other processes"
        done = backup_keep_one(seeded_db, folder)
        assert done.returncode == 0, done.stderr
        assert held.exists(), "retention in another process deleted a snapshot that was still held"
        assert len(backups.list_snapshots(target, folder)) == 2  # the held one and the new one
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(timeout=30)
    assert not list(folder.glob(f"{retention.HOLD_PREFIX}*")), "the marker outlived its hold"
    time.sleep(1.05)
    done = backup_keep_one(seeded_db, folder)
    assert done.returncode == 0, done.stderr
    assert not held.exists(), "released, it is an ordinary old snapshot that --keep 1 deletes"


def test_a_hold_marker_left_by_a_killed_process_goes_stale(seeded_db: Path, tmp_path: Path):
    folder = tmp_path / "backups"
    target = target_from_path(seeded_db)
    old = backups.create_backup(target, folder).path
    marker = folder / f"{retention.HOLD_PREFIX}{old.name}.999999"
    marker.touch()
    stale = time.time() - retention.HOLD_STALE_SECONDS - 60
    os.utime(marker, (stale, stale))
    time.sleep(1.05)
    done = backup_keep_one(seeded_db, folder)
    assert done.returncode == 0, done.stderr
    assert not old.exists() and not marker.exists()
    assert [s.name for s in backups.list_snapshots(target, folder)] != [old.name]
