"""registry.storage.backups: snapshots on real files (naming, mode, manifest, self-contained, retention, checks)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import registry_payload, write_row

from registry.storage import backups
from registry.storage import sqlite_db as db
from registry.storage.backups import snapshots
from registry.storage.backups.files import sha256_file
from registry.storage.sqlite_db import target_from_path
from registry.storage.sqlite_store import SQLiteRegistryStore


def open_store(path: Path) -> SQLiteRegistryStore:
    return SQLiteRegistryStore(db.target_from_path(path)).open()


def put(store: SQLiteRegistryStore, slug: str, updated: int | None = None, **profiles: dict) -> None:
    store.put_payload(slug, json.dumps(registry_payload(slug, profiles or {"p": {}})), updated)


def rows(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return dict(conn.execute("SELECT slug, updated_at_ms FROM profile_registries"))
    finally:
        conn.close()


@pytest.fixture
def live(db_path: Path):
    store = open_store(db_path)
    put(store, "default", 1_000)
    put(store, "team", 2_000)
    yield store
    store.close()


def test_backup_name_manifest_and_contents(live, db_path):
    before = datetime.now(UTC).replace(microsecond=0)
    info = backups.create_backup(target_from_path(db_path))
    assert info.path.parent == db_path.parent
    stamp = datetime.strptime(info.name.removeprefix("profiles.db.bak."), "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)
    assert info.verified and info.problem is None
    assert info.registries == {"default": 1_000, "team": 2_000}
    assert info.newest_updated_at_ms == 2_000
    manifest = json.loads(backups.manifest_path(info.path).read_text())
    assert manifest["sha256"] == sha256_file(info.path) == info.sha256
    assert manifest["size"] == info.path.stat().st_size == info.size
    assert manifest["registries"] == {"default": 1_000, "team": 2_000}
    assert manifest["newest_updated_at_ms"] == 2_000
    assert manifest["default_profiles"] == {"default": "p", "team": "p"}
    assert rows(info.path) == {"default": 1_000, "team": 2_000}
    assert not list(db_path.parent.glob(".tmp-*")), "temporary files are removed"


def test_snapshot_is_self_contained_and_opening_it_creates_no_wal(live, db_path):
    info = backups.create_backup(target_from_path(db_path))
    with info.path.open("rb") as handle:
        header = handle.read(20)
    assert header[18:20] == b"\x01\x01", "journal_mode=DELETE in the header: no -wal needed"
    conn = sqlite3.connect(info.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT count(*) FROM profile_registries").fetchone()[0] == 2
    conn.close()
    assert not Path(f"{info.path}-wal").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX mode bits")
def test_snapshot_and_manifest_are_owner_only(live, db_path):
    os.umask(0o022)
    info = backups.create_backup(target_from_path(db_path))
    assert info.path.stat().st_mode & 0o777 == 0o600
    assert backups.manifest_path(info.path).stat().st_mode & 0o777 == 0o600


def test_same_second_gets_a_suffix_and_nothing_is_overwritten(live, db_path, monkeypatch):
    fixed = datetime(2026, 2, 23, 22, 0, 0, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed

    monkeypatch.setattr(snapshots, "datetime", Frozen)
    first = backups.create_backup(target_from_path(db_path))
    put(live, "extra", 3_000)
    second = backups.create_backup(target_from_path(db_path))
    third = backups.create_backup(target_from_path(db_path))
    assert first.name == "profiles.db.bak.20260223-220000"
    assert second.name == "profiles.db.bak.20260223-220000-2"
    assert third.name == "profiles.db.bak.20260223-220000-3"
    assert "extra" not in rows(first.path), "the first snapshot was not overwritten"
    assert "extra" in rows(second.path)


def test_backup_dir_option_and_listing_newest_first(live, db_path, tmp_path):
    folder = tmp_path / "elsewhere"
    a = backups.create_backup(target_from_path(db_path), folder)
    put(live, "extra", 3_000)
    b = backups.create_backup(target_from_path(db_path), folder)
    listed = backups.list_snapshots(target_from_path(db_path), folder)
    assert [s.name for s in listed] == [b.name, a.name]
    assert all(s.path.parent == folder for s in listed)
    assert backups.list_snapshots(target_from_path(db_path)) == []


def test_listing_flags_a_damaged_or_foreign_snapshot(live, db_path):
    good = backups.create_backup(target_from_path(db_path))
    damaged = backups.create_backup(target_from_path(db_path))
    with damaged.path.open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\xff")
    foreign = db_path.with_name("profiles.db.bak.20200101-000000")
    shutil.copy(good.path, foreign)
    by_name = {s.name: s for s in backups.list_snapshots(target_from_path(db_path))}
    assert by_name[good.name].verified
    assert not by_name[damaged.name].verified and "checksum" in by_name[damaged.name].problem
    assert not by_name[foreign.name].verified and "no manifest" in by_name[foreign.name].problem


def test_verify_snapshot_reasons(live, db_path, tmp_path):
    info = backups.create_backup(target_from_path(db_path))
    backups.verify_snapshot(info.path)
    with info.path.open("r+b") as handle:
        handle.seek(info.size - 10)
        handle.write(b"garbage!!!")
    with pytest.raises(backups.SnapshotError, match="checksum mismatch"):
        backups.verify_snapshot(info.path)
    with pytest.raises(backups.SnapshotNotFound):
        backups.verify_snapshot(tmp_path / "missing")


def test_find_snapshot_refuses_paths_and_unknown_names(live, db_path, tmp_path):
    info = backups.create_backup(target_from_path(db_path))
    assert backups.find_snapshot(target_from_path(db_path), info.name).path == info.path
    outside = tmp_path.parent / "profiles.db.bak.20200101-000000"
    for name in [
        "../" + outside.name,
        str(outside),
        "profiles.db",
        "..",
        "",
        info.name + "/x",
        "profiles.db.bak.20990101-000000",
        info.name + ".manifest.json",
    ]:
        with pytest.raises(backups.SnapshotNotFound):
            backups.find_snapshot(target_from_path(db_path), name)


def test_progress_reports_every_phase(live, db_path):
    seen: list[tuple[str, int, int]] = []
    backups.create_backup(
        target_from_path(db_path), progress=lambda phase, done, total: seen.append((phase, done, total))
    )
    phases = {phase for phase, _, _ in seen}
    assert {"copy", "check", "hash"} <= phases
    assert all(done <= total for _, done, total in seen)
    assert ("check", 2, 2) in seen


def _age(info: backups.SnapshotInfo, days: float) -> None:
    """Rewrite a manifest's created_at as if the snapshot were `days` old (its sha and size stay valid)."""
    path = backups.manifest_path(info.path)
    manifest = json.loads(path.read_text())
    manifest["created_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(manifest))


def test_retention_keep_and_max_age(live, db_path):
    made = [backups.create_backup(target_from_path(db_path)) for _ in range(4)]
    foreign = db_path.with_name("profiles.db.bak.20000101-000000")
    shutil.copy(made[0].path, foreign)  # a runbook cp: no manifest, never pruned
    deleted = backups.prune(target_from_path(db_path), keep=2)
    assert sorted(deleted) == sorted([made[0].path, made[1].path])
    assert not backups.manifest_path(made[0].path).exists()
    assert foreign.exists()
    _age(made[2], 40)
    assert backups.prune(target_from_path(db_path), max_age_days=30) == [made[2].path]
    assert [s.name for s in backups.list_snapshots(target_from_path(db_path))] == [made[3].name, foreign.name]


def test_retention_never_deletes_the_newest_verified_snapshot(live, db_path):
    old_good = backups.create_backup(target_from_path(db_path))
    newer = backups.create_backup(target_from_path(db_path))
    with newer.path.open("r+b") as handle:  # the newest one is damaged: not verified
        handle.seek(300)
        handle.write(b"\x00\x01")
    for info in (old_good, newer):
        _age(info, 100)
    deleted = backups.prune(target_from_path(db_path), keep=1, max_age_days=1)
    assert deleted == [newer.path]
    assert old_good.path.exists(), "the newest verified snapshot survives every rule"


def test_backup_then_prune_prunes(live, db_path):
    for _ in range(3):
        backups.backup_then_prune(target_from_path(db_path), keep=2, max_age_days=None)
    assert len(backups.list_snapshots(target_from_path(db_path))) == 2


def test_backup_keeps_a_bad_payload_and_lists_it_quarantined_but_restore_refuses_it(live, db_path):
    # Issue 15: a bad live row must not block a backup; the snapshot is a faithful copy, checked strictly on restore.
    write_row(db_path, "broken", '{"slug":"broken","profiles":')
    info = backups.create_backup(target_from_path(db_path))
    assert info.verified and "broken" not in info.registries
    assert info.manifest["quarantined"]["broken"].startswith("payload_json is not valid JSON")
    assert "broken" in rows(info.path)  # the row as it is
    assert not list(db_path.parent.glob(".tmp-*"))
    with pytest.raises(backups.SnapshotError, match="registry 'broken' has a bad payload"):
        backups.restore_snapshot(target_from_path(db_path), info.path)


def test_cp_of_the_main_file_after_each_write_holds_every_row(db_path, tmp_path):
    """The runbook's `cp profiles.db` (main file alone) is complete after every committed write."""
    store = open_store(db_path)
    try:
        for i in range(30):
            put(store, f"r{i}", i)
            copy = tmp_path / f"copy{i}.db"
            shutil.copy(db_path, copy)
            assert len(rows(copy)) == i + 1
            assert Path(f"{db_path}-wal").exists(), "WAL mode: the rows could have stayed in the -wal"
    finally:
        store.close()


def test_cp_property_holds_while_a_reader_pins_the_wal(db_path, tmp_path):
    """A reader whose transaction began before the write (a request reloading rows) must not leave it in the WAL."""
    store = open_store(db_path)
    reader = db.connect(db.target_from_path(db_path), check_same_thread=False)
    try:
        put(store, "first", 1)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM profile_registries").fetchone()
        release = threading.Timer(0.05, lambda: reader.execute("COMMIT"))
        release.start()
        put(store, "second", 2)
        release.join()
        shutil.copy(db_path, tmp_path / "copy.db")
        assert rows(tmp_path / "copy.db") == {"first": 1, "second": 2}
    finally:
        reader.close()
        store.close()


def test_cp_property_holds_after_a_backup_pinned_the_wal(live, db_path, tmp_path, monkeypatch):
    """A write committed while a (long) backup reads cannot be checkpointed then; the backup does it when done."""
    real_connect = db.connect

    class LongBackupSource:
        """The backup's source connection, holding its read transaction while another thread writes."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def backup(self, dest: sqlite3.Connection) -> None:
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT count(*) FROM profile_registries").fetchone()
            writer = threading.Thread(target=put, args=(live, "during", 5_000))
            writer.start()
            writer.join()  # its checkpoint gives up after CHECKPOINT_WAIT_MS: we still read
            self.conn.backup(dest)
            self.conn.execute("COMMIT")

        def __getattr__(self, name: str):
            return getattr(self.conn, name)

    def connect(target, **kwargs):
        conn = real_connect(target, **kwargs)
        return LongBackupSource(conn) if kwargs.get("read_only") else conn

    monkeypatch.setattr(db, "connect", connect)
    info = backups.create_backup(target_from_path(db_path))
    assert "during" not in rows(info.path), "the snapshot is of the state when the backup began"
    shutil.copy(db_path, tmp_path / "copy.db")
    assert "during" in rows(tmp_path / "copy.db")


def test_backup_while_four_threads_write_holds_every_earlier_row_and_restores(db_path, tmp_path):
    store = open_store(db_path)
    committed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []
    filler = {f"p{i}": {"description": "x" * 2000} for i in range(200)}  # ~400 KB rows: the copy takes a while

    def writer(n: int) -> None:
        try:
            i = 0
            while not stop.is_set():
                slug = f"w{n}-{i}"
                store.put_payload(slug, json.dumps(registry_payload(slug, filler if i % 10 == 0 else {"p": {}})))
                with lock:
                    committed.append(slug)
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        while len(committed) < 40:
            stop.wait(0.01)
        with lock:
            before = set(committed)
        info = backups.create_backup(target_from_path(db_path))
        backups.verify_snapshot(info.path)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    in_snapshot = set(rows(info.path))
    assert before <= in_snapshot
    assert len(committed) > len(before), "writers kept writing during the backup"
    result = backups.restore_snapshot(target_from_path(db_path), info.path, tmp_path / "safety")
    assert set(backups.live_registries(target_from_path(db_path))) == in_snapshot
    assert set(backups.live_registries(target_from_path(result.safety_snapshot.path))) == set(committed)
    store.close()


def test_prune_removes_temporaries_of_dead_backups_only(live, db_path):
    old = db_path.with_name(".tmp-profiles.db.deadbeef")
    young = db_path.with_name(".tmp-profiles.db.cafebabe")
    other = db_path.with_name(".tmp-other.db.deadbeef")
    for path in (old, young, other):
        path.write_bytes(b"partial")
    two_days_ago = datetime.now(UTC).timestamp() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(other, (two_days_ago, two_days_ago))
    backups.prune(target_from_path(db_path), keep=5)
    assert not old.exists()
    assert young.exists(), "a backup running right now keeps its temporary file"
    assert other.exists(), "another database's files are not ours"


def test_compare_with_live_names_every_kind_of_change(live, db_path):
    put(live, "gone", 500)
    put(live, "stale", 700)
    snapshot = backups.create_backup(target_from_path(db_path))
    put(live, "default", 9_000)  # live moved on: the snapshot's row is older
    put(live, "fresh", 1)  # only live has it: restoring removes it
    write_row(db_path, "stale", json.dumps(registry_payload("stale", {"p": {}})), 600)  # live went back in time
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM profile_registries WHERE slug = 'gone'")  # only the snapshot has it
    conn.commit()
    conn.close()
    changes = {
        c.slug: (c.live_updated_at_ms, c.snapshot_updated_at_ms, c.change)
        for c in backups.compare_with_live(target_from_path(db_path), snapshot)
    }
    assert changes == {
        "default": (9_000, 1_000, "older"),
        "fresh": (1, None, "removed"),
        "gone": (None, 500, "added"),
        "stale": (600, 700, "newer"),
        "team": (2_000, 2_000, "same"),
    }
