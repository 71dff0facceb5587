"""What keeps the overview cheap: the snapshot listing cached per backup-folder state, rendered pages per data state.

Listing snapshots reads every manifest (hundreds of milliseconds for 200 snapshots of 100 registries) and rendering
300 table rows costs tens of milliseconds, while the overview is the page an operator leaves open and reloads.
So both are cached and rebuilt only when what they show changed:
- the listing, when the folder's entries change (its mtime or the set of names; a backup, prune or restore always
  adds, renames or removes a file), and at least every REVALIDATE_SECONDS by comparing every file's size and
  mtime, which catches a snapshot damaged in place;
- a rendered page, when the registry data (the chain view's generation), the listing, the health report or the
  viewer's login changes. Relative ages ("3 min ago") are left as markers in the cached HTML and filled in on
  every request, so a cached page never shows a stale age.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from registry.dashboard.formatting import age, to_datetime
from registry.errors import RegistryError

REVALIDATE_SECONDS = 10.0
PAGE_CACHE_SIZE = 8
# A marker that autoescaping leaves alone and no registry text can contain (control characters are not valid
# in the JSON strings a name would come from without an escape the template would not reproduce).
_AGE_MARK = "\x1a"
_AGE_RE = re.compile(f"{_AGE_MARK}(-?\\d+){_AGE_MARK}")


def age_marker(value: int | float | datetime | None) -> str:
    """A placeholder for the age of `value`, filled in by `fill_ages` at response time."""
    if value is None or (not isinstance(value, datetime) and value <= 0):
        return ""
    ms = int(to_datetime(value).timestamp() * 1000) if isinstance(value, datetime) else int(value)
    return f"{_AGE_MARK}{ms}{_AGE_MARK}"


def fill_ages(html: str, now: datetime | None = None) -> str:
    """Replace every age marker with "3 min ago" as of now."""
    return _AGE_RE.sub(lambda m: age(int(m.group(1)), now), html)


@dataclass(frozen=True)
class Listing:
    """The snapshots of one folder as last listed, the folder state they belong to, and any listing error.

    `key` is the cheap folder state checked on every request, `detail` the per-file state checked now and then.
    """

    key: tuple[Any, ...]
    snapshots: list[Any]
    error: str
    checked_at: float
    detail: tuple[Any, ...]
    generation: int  # grows with every reload: part of the rendered page's cache key


def _folder_key(folder: Path) -> tuple[Any, ...]:
    """Cheap: the folder's mtime and entry names (one stat and one listdir, whatever the number of snapshots)."""
    try:
        return (folder.stat().st_mtime_ns, tuple(sorted(os.listdir(folder))))
    except OSError:
        return ("missing",)


def _folder_detail(folder: Path) -> tuple[Any, ...]:
    """Expensive: size and mtime of every entry, to catch a file changed in place (which leaves the folder alone)."""
    detail = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    st = entry.stat()
                except OSError:
                    continue
                detail.append((entry.name, st.st_size, st.st_mtime_ns, st.st_mode))
    except OSError:
        return ("missing",)
    return tuple(sorted(detail))


class SnapshotListingCache:
    """`list_snapshots` results per folder, reused while the folder is unchanged."""

    def __init__(self, revalidate_seconds: float = REVALIDATE_SECONDS) -> None:
        self.revalidate_seconds = revalidate_seconds
        self._lock = threading.Lock()
        self._listings: dict[str, Listing] = {}
        self._generation = 0

    def get(self, folder: Path, load: Callable[[], list[Any]]) -> Listing:
        """The cached listing of `folder`, or a fresh one from `load()` (its OSError or RegistryError is kept)."""
        name = str(folder)
        key = _folder_key(folder)
        now = time.monotonic()
        cached = self._listings.get(name)
        if cached is not None and cached.key == key:
            if now - cached.checked_at < self.revalidate_seconds:
                return cached
            detail = _folder_detail(folder)
            if detail == cached.detail:
                refreshed = Listing(cached.key, cached.snapshots, cached.error, now, detail, cached.generation)
                with self._lock:
                    self._listings[name] = refreshed
                return refreshed
        detail = _folder_detail(folder)
        try:
            snapshots, error = load(), ""
        except (OSError, RegistryError) as exc:
            snapshots, error = [], f"cannot list snapshots in {folder}: {exc}"
        with self._lock:
            self._generation += 1
            listing = Listing(key, snapshots, error, now, detail, self._generation)
            self._listings[name] = listing
        return listing


class PageCache:
    """A few rendered pages (HTML with age markers) by the state they show; least recently used ones dropped."""

    def __init__(self, size: int = PAGE_CACHE_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple[Any, ...], str] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> str | None:
        with self._lock:
            html = self._pages.get(key)
            if html is not None:
                self._pages.move_to_end(key)
            return html

    def put(self, key: tuple[Any, ...], html: str) -> None:
        with self._lock:
            self._pages[key] = html
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


@dataclass
class DashboardCaches:
    """The caches of one app (kept in app.extensions, so two apps in one process never share them)."""

    listings: SnapshotListingCache
    pages: PageCache

    @classmethod
    def create(cls) -> DashboardCaches:
        return cls(SnapshotListingCache(), PageCache())
