"""Retention never deletes a snapshot that another backup is still reporting, in any process (issue 15).

The hold used to be a Counter inside one process: a `profile-registry backup --keep 1` run beside it deleted a
snapshot the other process had just written and was still reporting. Holds are now lease marker files beside
the snapshot (registry/storage/backups/retention.py), honoured by every process until released or stale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import registry_payload, write_row

from registry.storage.backups import retention

from ._support import child_env

# A second process that takes a snapshot inside a lease, says its name, and holds it until told to finish.
HOLDER = """
import sys
from pathlib import Path
from registry.storage import sqlite_db
from registry.storage.backups import retention
from registry.storage.backups.snapshots import create_backup

target = sqlite_db.target_from_path(sys.argv[1])
with retention.lease():
    info = create_backup(target, Path(sys.argv[2]))
    print(info.path, flush=True)
    sys.stdin.readline()  # still "reporting" until the test writes a line
print("released", flush=True)
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        env=child_env(), capture_output=True, text=True, timeout=120, check=False,
    )


def snapshots(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir()
        if ".bak." in p.name and not p.name.endswith(".manifest.json") and not p.name.startswith(".")
    )


def test_a_backup_cli_beside_a_process_holding_a_snapshot_leaves_it(tmp_path: Path) -> None:
    db = tmp_path / "profiles.db"
    write_row(db, "default", registry_payload("default", {"p": {}}))
    folder = tmp_path / "snaps"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(folder)],
        env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        held = Path(holder.stdout.readline().strip())
        assert held.is_file(), holder.stderr.read() if holder.stderr else ""
        time.sleep(1.1)  # the next snapshot gets a later name, so --keep 1 makes the held one a candidate
        done = cli("backup", "--db", str(db), "--backup-dir", str(folder), "--keep", "1")
        assert done.returncode == 0, done.stderr
        # Kept although it is beyond --keep 1: the other process is still reporting it.
        assert held.is_file() and Path(f"{held}.manifest.json").is_file()
        assert len(snapshots(folder)) == 2
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for stream in (holder.stdin, holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()
    # Released: no marker is left, and the next retention pass may delete it.
    assert [p.name for p in folder.iterdir() if p.name.startswith(retention.LEASE_PREFIX)] == []
    time.sleep(1.1)
    done = cli("backup", "--db", str(db), "--backup-dir", str(folder), "--keep", "1")
    assert done.returncode == 0, done.stderr
    assert not held.exists() and len(snapshots(folder)) == 1


def test_a_stale_marker_of_a_killed_holder_holds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "profiles.db"
    write_row(db, "default", registry_payload("default", {"p": {}}))
    folder = tmp_path / "snaps"
    first = cli("backup", "--db", str(db), "--backup-dir", str(folder))
    assert first.returncode == 0, first.stderr
    [name] = snapshots(folder)
    # What a holder killed with SIGKILL leaves behind: its marker, never removed.
    marker = folder / f"{retention.LEASE_PREFIX}{name}.99999-dead"
    marker.write_text("99999\n", encoding="utf-8")
    time.sleep(1.1)
    kept = cli("backup", "--db", str(db), "--backup-dir", str(folder), "--keep", "1")
    assert kept.returncode == 0, kept.stderr
    assert name in snapshots(folder)  # a fresh marker holds
    old = time.time() - retention.LEASE_STALE_SECONDS - 60
    os.utime(marker, (old, old))
    time.sleep(1.1)
    pruned = cli("backup", "--db", str(db), "--backup-dir", str(folder), "--keep", "1")
    assert pruned.returncode == 0, pruned.stderr
    assert name not in snapshots(folder) and len(snapshots(folder)) == 1
    assert not marker.exists()  # stale markers are cleared by the pass
