"""Snapshots taken while another process writes flat out all verify, hold every write committed before them,
and restore."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from registry import create_app
from registry.storage.backups import create_backup, list_snapshots, restore_snapshot, verify_snapshot
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore
from registry.web.app_state import app_state

from ._support import child_env, registry_json

SNAPSHOTS = 8
SEED_ROWS = 20

# A second process writing registries as fast as the store lets it; each number is printed after its commit.
STORM = r"""
import json, sys, time
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore
store = SQLiteRegistryStore(target_from_path(sys.argv[1])).open()
print("ready", flush=True)
deadline = time.monotonic() + 60
seq = 0
while seq < 200000 and time.monotonic() < deadline:
    slug = f"storm-{seq}"
    store.put_payload(slug, json.dumps({"slug": slug, "default_profile_slug": "p",
        "profiles": {"p": {"slug": "p", "description": "s" * (seq % 4000), "metadata": {}}}, "metadata": {}}))
    print(seq, flush=True)
    seq += 1
"""


def rows_of(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return dict(conn.execute("SELECT slug, payload_json FROM profile_registries"))
    finally:
        conn.close()


class Storm:
    """The writer process and the numbers it has reported so far."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", STORM, str(db)], stdout=subprocess.PIPE, text=True, env=child_env()
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first == "ready\n", first
        self.reported: list[int] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.endswith("\n"):
                self.reported.append(int(line))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        self.thread.join(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.mark.skipif(os.name != "posix", reason="the storm's stop uses POSIX signals")
def test_snapshots_during_write_storm_verify_and_restore(tmp_path: Path) -> None:
    db = tmp_path / "data" / "profiles.db"
    db.parent.mkdir()
    backup_dir = tmp_path / "backups"
    store = SQLiteRegistryStore(target_from_path(db)).open()
    for i in range(SEED_ROWS):
        store.put_payload(f"seed-{i}", registry_json(f"seed-{i}", description="seed"))
    store.close()

    storm = Storm(db)
    snapshots = []
    try:
        for _ in range(SNAPSHOTS):
            committed_before = list(storm.reported)
            info = create_backup(target_from_path(db), backup_dir)
            verify_snapshot(info.path)
            held = rows_of(info.path)
            missing = [n for n in committed_before if f"storm-{n}" not in held]
            assert not missing, f"{info.name} lacks writes committed before it started: {missing[:10]}"
            assert all(f"seed-{i}" in held for i in range(SEED_ROWS))
            assert info.registries == {slug: info.registries[slug] for slug in held}
            snapshots.append((info, held))
            # Let the storm move on a little between snapshots, so each snapshot catches a different moment.
            time.sleep(0.05)
        written_during = len(storm.reported)
    finally:
        storm.stop()
    assert written_during > 0, "the storm wrote nothing while the snapshots were taken"
    assert len({info.path for info, _ in snapshots}) == SNAPSHOTS
    # Each later snapshot holds at least what an earlier one held (the writer only adds rows).
    sizes = [len(held) for _, held in snapshots]
    assert sizes == sorted(sizes)
    listed = {s.name for s in list_snapshots(target_from_path(db), backup_dir)}
    assert {info.name for info, _ in snapshots} <= listed

    # Every snapshot restores into a database of its own and gives back exactly its rows.
    for i, (info, held) in enumerate(snapshots):
        scratch = tmp_path / f"scratch-{i}" / "profiles.db"
        scratch.parent.mkdir()
        SQLiteRegistryStore(target_from_path(scratch)).open().close()
        restore_snapshot(target_from_path(scratch), info.path, backup_dir=scratch.parent / "backups")
        assert rows_of(scratch) == held, info.name

    # And the oldest one restores into the live database the storm was writing, which then serves it.
    oldest, held = snapshots[0]
    restore_snapshot(target_from_path(db), oldest.path, backup_dir)
    assert rows_of(db) == held
    app = create_app({"PROFILE_REGISTRIES": [str(db)], "TESTING": True})
    try:
        assert set(app_state(app).service.chain.view().registries) == set(held)
    finally:
        app_state(app).service.chain.close()
