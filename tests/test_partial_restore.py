"""Restoring one registry or one profile from a snapshot (registry.service.partial_restore) on real databases: every
test runs on a SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import registry_payload, write_row

from registry.cli import main
from registry.domain.partial_restore import RestoreConflict, RestoreRefused
from registry.service.partial_restore import Selection, restore_partially
from registry.service.registry_service import RegistryService
from registry.service.snapshot_diff import diff_snapshot, live_side, snapshot_side
from registry.service.writes import RegistryWriter
from registry.storage import backups
from registry.storage.postgres_db import target_from_dsn
from registry.storage.postgres_store import PostgresRegistryStore
from registry.storage.sqlite_db import target_from_path


class Live:
    """The test's live database, a SQLite file or a PostgreSQL database, and rows written behind the service's
    back (the sqlite3 shell, psql)."""

    def __init__(self, entry: str, folder: Path, postgres: bool) -> None:
        self.entry, self.folder, self.postgres = entry, folder, postgres
        self.target: Any = target_from_dsn(entry) if postgres else target_from_path(entry)
        if postgres:
            PostgresRegistryStore(self.target).open().close()  # the table and its trigger, as `serve` makes them

    @property
    def location(self) -> str:
        return backups.live_database(self.target).location

    @property
    def cli_args(self) -> list[str]:
        if self.postgres:
            return ["--profile-registries", self.entry, "--backup-dir", str(self.folder)]
        return ["--db", self.entry, "--backup-dir", str(self.folder)]

    def write(self, slug: str, payload: Any, stamp: int) -> None:
        if not self.postgres:
            write_row(Path(self.entry), slug, payload, stamp)
            return
        with psycopg.connect(self.entry) as conn:
            conn.execute(
                "INSERT INTO profile_registries VALUES (%s, %s, %s) ON CONFLICT (slug) DO UPDATE "
                "SET payload_json = excluded.payload_json, updated_at_ms = excluded.updated_at_ms",
                (slug, json.dumps(payload), stamp),
            )

    def delete(self, slug: str) -> None:
        if self.postgres:
            with psycopg.connect(self.entry) as conn:
                conn.execute("DELETE FROM profile_registries WHERE slug = %s", (slug,))
            return
        conn = sqlite3.connect(self.entry)
        with conn:
            conn.execute("DELETE FROM profile_registries WHERE slug = ?", (slug,))
        conn.close()

    def rows(self) -> dict[str, tuple[dict, int]]:
        query = "SELECT slug, payload_json, updated_at_ms FROM profile_registries"
        if self.postgres:
            with psycopg.connect(self.entry) as conn:
                found = conn.execute(query).fetchall()
        else:
            conn = sqlite3.connect(self.entry)
            try:
                found = conn.execute(query).fetchall()
            finally:
                conn.close()
        return {slug: (json.loads(payload), stamp) for slug, payload, stamp in found}


def rows(db: Live) -> dict[str, tuple[dict, int]]:
    return db.rows()


def team(profiles: dict) -> dict:
    return registry_payload("team", profiles, default="gamma")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path: Path) -> Live:
    postgres = request.param == "postgresql"
    entry = request.getfixturevalue("pg_url") if postgres else str(tmp_path / "profiles.db")
    live = Live(entry, tmp_path / "snapshots", postgres)
    live.write("default", registry_payload("default", {"alpha": {}, "beta": {"description": "old beta"}}), 1000)
    live.write("team", team({"gamma": {"description": "good"}, "delta": {}}), 1000)
    return live


@pytest.fixture
def service(db: Live, tmp_path: Path):
    service = RegistryService.from_settings([db.entry], str(tmp_path / "default.db"), None)
    yield service
    service.chain.close()


def snapshot_of(db: Live) -> Path:
    return backups.create_backup(db.target, db.folder).path


def test_a_single_registry_comes_back_while_another_registry_is_being_edited(db, service):
    snapshot = snapshot_of(db)
    db.write("team", team({"gamma": {"description": "DAMAGED"}}), 2000)
    writer = RegistryWriter(service)
    stop = threading.Event()
    edits: list[str] = []

    def keep_editing() -> None:
        while not stop.is_set() or len(edits) < 5:
            text = f"edit {len(edits)}"
            writer.update_profile("default", "alpha", {"description": text}, actor="bob", source="api")
            edits.append(text)

    editor = threading.Thread(target=keep_editing)
    editor.start()
    try:
        result = restore_partially(service, snapshot, db.folder, Selection.parse(["team"], []), actor="alice")
    finally:
        stop.set()
        editor.join()
    after = rows(db)
    restored, _ = after["team"]
    assert {p: v.get("description", "") for p, v in restored["profiles"].items()} == {"gamma": "good", "delta": ""}
    assert restored["metadata"]["updated_by"] == "alice" and restored["metadata"]["source"] == "restore"
    # Every edit bob made to the other registry survived, before, during and after the restore.
    default, _ = after["default"]
    assert default["profiles"]["alpha"]["description"] == edits[-1]
    assert default["profiles"]["alpha"]["metadata"]["version"] == len(edits)
    assert default["profiles"]["beta"]["description"] == "old beta"
    [outcome] = result.registries
    assert (outcome.slug, outcome.change, outcome.before_updated_at_ms) == ("team", "replaced", 2000)
    # The safety snapshot holds the damaged row the restore replaced.
    assert result.safety_snapshot.registries["team"] == 2000


def test_one_profile_comes_back_and_the_rest_of_its_registry_stays(db, service):
    snapshot = snapshot_of(db)
    live = registry_payload("default", {"alpha": {"description": "kept"}, "beta": {"description": "broken"}})
    live["profiles"]["beta"]["metadata"] = {"version": 4}
    db.write("default", live, 2000)
    result = restore_partially(service, snapshot, db.folder, Selection.parse([], ["default/beta"]), actor="alice")
    default, stamp = rows(db)["default"]
    assert default["profiles"]["alpha"]["description"] == "kept"
    assert default["profiles"]["beta"]["description"] == "old beta"
    # Past both the live version (4) and the snapshot's (0): a client holding either gets a 409.
    assert default["profiles"]["beta"]["metadata"]["version"] == 5
    assert rows(db)["team"][1] == 1000  # the other registry's row was not touched
    assert [(o.slug, o.change, o.profiles) for o in result.registries] == [("default", "profiles", ["beta"])]
    assert stamp == result.registries[0].after_updated_at_ms


def test_a_restore_that_would_break_another_registrys_stack_is_refused_with_the_reason(db, service):
    snapshot = snapshot_of(db)  # team holds gamma and delta, nobody stacks on them
    db.write("team", team({"gamma": {}, "delta": {}, "base": {"description": "added later"}}), 2000)
    db.write(
        "default",
        registry_payload(
            "default", {"alpha": {"stack": [{"registry_slug": "team", "profile_slug": "base"}]}, "beta": {}}
        ),
        2000,
    )
    before = rows(db)
    with pytest.raises(RestoreRefused) as refused:
        restore_partially(service, snapshot, db.folder, Selection.parse(["team"], []), actor="alice")
    assert str(refused.value) == (
        "refused: restoring registry team would break a stack reference: default/alpha stacks on team/base, "
        'which the restored registry "team" would not hold; nothing was restored'
    )
    assert rows(db) == before


def test_a_registry_changed_after_the_diff_is_a_conflict_and_nothing_is_restored(db, service):
    snapshot = snapshot_of(db)
    db.write("team", team({"gamma": {"description": "DAMAGED"}}), 2000)
    db.write("default", registry_payload("default", {"alpha": {}}), 2000)
    diff = diff_snapshot(live_side(db.target), snapshot_side(snapshot))
    seen = {r.slug: r.before_updated_at_ms for r in diff.registries}
    assert seen == {"default": 2000, "team": 2000}
    db.write("team", team({"gamma": {"description": "a colleague's fix"}}), 3000)  # after the diff was shown
    before = rows(db)
    with pytest.raises(RestoreConflict) as conflict:
        restore_partially(
            service, snapshot, db.folder, Selection.parse(["team", "default"], []), expected=seen, actor="alice"
        )
    assert str(conflict.value) == (
        'registry "team" changed since the diff was shown: updated_at_ms expected=2000 actual=3000; '
        "nothing was restored"
    )
    assert rows(db) == before  # neither registry changed: one transaction


def test_selections_that_name_nothing_restorable_are_refused(db, service):
    snapshot = snapshot_of(db)
    with pytest.raises(RestoreRefused, match="nothing selected"):
        restore_partially(service, snapshot, db.folder, Selection(), actor="a")
    with pytest.raises(RestoreRefused, match='registry "ghost" is in neither the snapshot nor the live data'):
        restore_partially(service, snapshot, db.folder, Selection.parse(["ghost"], []), actor="a")
    with pytest.raises(RestoreRefused, match='profile "ghost" is in neither the snapshot nor the live registry'):
        restore_partially(service, snapshot, db.folder, Selection.parse([], ["team/ghost"]), actor="a")
    with pytest.raises(Exception, match="is not REGISTRY/PROFILE"):
        Selection.parse([], ["team"])


def test_a_whole_registry_missing_from_the_snapshot_is_removed_and_a_deleted_one_comes_back(db, service):
    db.write("extra", registry_payload("extra", {"p": {}}), 1500)
    snapshot = snapshot_of(db)
    db.delete("extra")
    db.write("later", registry_payload("later", {"q": {}}), 2000)
    result = restore_partially(service, snapshot, db.folder, Selection.parse(["extra", "later"], []), actor="a")
    assert {o.slug: o.change for o in result.registries} == {"extra": "created", "later": "removed"}
    assert set(rows(db)) == {"default", "team", "extra"}
    assert copy.deepcopy(rows(db)["extra"][0]["profiles"]["p"]["slug"]) == "p"


def test_cli_restores_one_registry_and_refuses_a_stale_expectation(db, capsys):
    snapshot = snapshot_of(db)
    db.write("team", team({"gamma": {"description": "DAMAGED"}}), 2000)
    db.write("default", registry_payload("default", {"alpha": {"description": "kept"}}), 2000)
    args = ["restore", snapshot.name, *db.cli_args, "--registry", "team"]
    assert main([*args, "--expect", "team=1999"]) == 1
    assert capsys.readouterr().err.strip() == (
        'profile-registry restore: error: registry "team" changed since the diff was shown: '
        "updated_at_ms expected=1999 actual=2000; nothing was restored"
    )
    assert main([*args, "--expect", "team=2000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"restored registry team in {db.location} from {snapshot}"
    assert out[2].startswith("  team: replaced (live was 2000, now ")
    after = rows(db)
    assert after["team"][0]["profiles"]["gamma"]["description"] == "good"
    assert after["default"] == ({**after["default"][0]}, 2000)
    assert after["default"][0]["profiles"]["alpha"]["description"] == "kept"
    assert main(["restore", snapshot.name, *db.cli_args, "--profile", "team"]) == 1
    assert "'team' is not REGISTRY/PROFILE" in capsys.readouterr().err
