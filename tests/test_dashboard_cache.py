"""The snapshot listing cache: one stat per request once the folder has settled, every change still seen."""

from __future__ import annotations

import os
import time
from pathlib import Path

from registry.dashboard import cache
from registry.dashboard.cache import RECENT_SECONDS, SnapshotListingCache


def listing_of(folder: Path):
    return lambda: sorted(p.name for p in folder.iterdir())


def age_folder(folder: Path, seconds: float) -> int:
    """Set the folder's mtime `seconds` in the past, as if its last change were that old; the new mtime."""
    mtime_ns = time.time_ns() - int(seconds * 1e9)
    os.utime(folder, ns=(mtime_ns, mtime_ns))
    return mtime_ns


def test_a_change_in_the_same_clock_tick_is_seen_by_the_names(tmp_path: Path):
    listings = SnapshotListingCache()
    (tmp_path / "a").write_text("a")
    mtime_ns = age_folder(tmp_path, 0.5)  # recent: the mtime alone cannot be trusted yet
    first = listings.get(tmp_path, listing_of(tmp_path))
    assert first.snapshots == ["a"] and not first.settled
    (tmp_path / "b").write_text("b")
    os.utime(tmp_path, ns=(mtime_ns, mtime_ns))  # the change landed in the same tick: same mtime
    second = listings.get(tmp_path, listing_of(tmp_path))
    assert second.snapshots == ["a", "b"] and second.generation > first.generation


def test_a_settled_folder_costs_no_listdir_and_a_later_change_is_seen(tmp_path: Path, monkeypatch):
    listings = SnapshotListingCache()
    (tmp_path / "a").write_text("a")
    age_folder(tmp_path, RECENT_SECONDS + 1)
    first = listings.get(tmp_path, listing_of(tmp_path))
    assert first.settled
    reads: list[Path] = []
    real_listdir = os.listdir
    monkeypatch.setattr(cache.os, "listdir", lambda path: reads.append(path) or real_listdir(path))
    for _ in range(50):
        assert listings.get(tmp_path, listing_of(tmp_path)) is first
    assert reads == []
    (tmp_path / "b").write_text("b")  # moves the folder's mtime to now
    assert listings.get(tmp_path, listing_of(tmp_path)).snapshots == ["a", "b"]


def test_a_listing_taken_while_recent_settles_after_one_look_at_the_names(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache, "RECENT_SECONDS", 0.2)
    listings = SnapshotListingCache()
    (tmp_path / "a").write_text("a")
    first = listings.get(tmp_path, listing_of(tmp_path))
    assert not first.settled
    time.sleep(0.3)
    settled = listings.get(tmp_path, listing_of(tmp_path))
    assert settled.settled and settled.generation == first.generation  # the same listing, not reloaded
