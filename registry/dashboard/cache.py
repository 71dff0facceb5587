"""What keeps the overview cheap: the snapshot listing cached per backup-folder state, rendered pages per data state.

Listing snapshots reads every manifest (hundreds of milliseconds for 200 snapshots of 100 registries) and rendering
300 table rows costs tens of milliseconds, while the overview is the page an operator leaves open and reloads.
So both are cached and rebuilt only when what they show changed:
- the listing, when the folder's entries change (its mtime or the set of names; a backup, prune or restore always
  adds, renames or removes a file), and at least every REVALIDATE_SECONDS by comparing every file's size and
  mtime, which catches a snapshot damaged in place;
- a rendered page, when the registry data (the chain view's generation), the listing, the health report or the
  viewer's login changes. Relative ages ("3 min ago") are filled in on every request, so a cached page never
  shows a stale age: the page is kept as a tuple of text pieces and timestamps, cut at placeholders that carry
  a random token made for that one render. Registry data cannot forge or break one (it cannot know the token,
  and autoescaping turns its `<` into `&lt;`), so no user text is ever read as a marker.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.dashboard.formatting import age_of_seconds, to_datetime
from registry.domain.errors import RegistryError

REVALIDATE_SECONDS = 10.0
RECENT_SECONDS = 3  # longer than the coarsest mtime tick in use (FAT: 2 s)
PAGE_CACHE_SIZE = 8
def new_render_token() -> str:
    """The token of one render's age placeholders (128 random bits)."""
    return secrets.token_hex(16)


def age_marker(value: float | datetime | None, token: str) -> str:
    """A placeholder for the age of `value` in the render identified by `token`, cut out by `split_ages`."""
    if value is None or (not isinstance(value, datetime) and value <= 0):
        return ""
    ms = int(to_datetime(value).timestamp() * 1000) if isinstance(value, datetime) else int(value)
    return f"<!--age:{token}:{ms}-->"


def split_ages(html: str, token: str) -> tuple[str | int, ...]:
    """The page cut at its age placeholders: text at even positions, the milliseconds (int) at odd ones."""
    pieces = html.split(f"<!--age:{token}:")
    parts: list[str | int] = [pieces[0]]
    for piece in pieces[1:]:
        ms, _, rest = piece.partition("-->")
        parts += [int(ms), rest]
    return tuple(parts)


def fill_ages(parts: tuple[str | int, ...], now: datetime | None = None) -> str:
    """The page with every age marker replaced by "3 min ago" as of now (a join, no scanning of the HTML).

    Ages are computed on whole seconds, so the result depends only on the page and the current second.
    """
    now_s = int((now or datetime.now(UTC)).timestamp())
    out = list(parts)
    for i in range(1, len(out), 2):
        out[i] = age_of_seconds(now_s - out[i] // 1000)  # type: ignore[operator]
    return "".join(out)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Listing:
    """The snapshots of one folder as last listed, the folder state they belong to, and any listing error.

    `mtime_ns`/`names`/`settled` are the cheap folder state checked on every request, `detail` the per-file state
    checked now and then.
    """

    mtime_ns: int | None  # None: the folder could not be read
    names: tuple[str, ...]
    settled: bool  # the folder's mtime was already older than RECENT_SECONDS when it was looked at
    snapshots: list[Any]
    error: str
    checked_at: float
    detail: tuple[Any, ...]
    generation: int  # grows with every reload: part of the rendered page's cache key


def _folder_mtime(folder: Path) -> int | None:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return None


def _folder_names(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def _is_settled(mtime_ns: int | None) -> bool:
    """Whether any later change of the folder is sure to give it another mtime.

    Adding, renaming or removing an entry moves the folder's mtime, unless it happens within the same clock tick as
    the previous change (FAT's tick is 2 s). Once the mtime is older than RECENT_SECONDS, a change made after this
    look gets a later mtime, so the mtime alone tells whether the folder changed since.
    """
    return mtime_ns is None or time.time_ns() - mtime_ns >= RECENT_SECONDS * 1_000_000_000


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
    """`list_snapshots` results per folder, reused while the folder is unchanged.

    Per request this costs one stat of the folder; the entry names are read too (one listdir) only while the
    folder's last change is younger than RECENT_SECONDS, when its mtime alone cannot be trusted.
    """

    def __init__(self, revalidate_seconds: float = REVALIDATE_SECONDS) -> None:
        self.revalidate_seconds = revalidate_seconds
        self._lock = threading.Lock()
        self._listings: dict[str, Listing] = {}
        self._generation = 0

    def get(self, folder: Path, load: Callable[[], list[Any]]) -> Listing:
        """The cached listing of `folder`, or a fresh one from `load()` (its OSError or RegistryError is kept)."""
        name = str(folder)
        mtime_ns = _folder_mtime(folder)
        now = time.monotonic()
        cached = self._listings.get(name)
        if cached is not None:
            current = self._unchanged(name, cached, folder, mtime_ns)
            if current is not None:
                if now - current.checked_at < self.revalidate_seconds:
                    return current
                detail = _folder_detail(folder)
                if detail == current.detail:
                    return self._store(name, replace(current, checked_at=now))
        # Looked at before the listing is loaded: a change made while it loads moves the mtime seen next time.
        settled = _is_settled(mtime_ns)
        names = () if settled else _folder_names(folder)
        detail = _folder_detail(folder)
        try:
            snapshots, error = load(), ""
        except (OSError, RegistryError) as exc:
            snapshots, error = [], f"cannot list snapshots in {folder}: {exc}"
        with self._lock:
            self._generation += 1
            listing = Listing(mtime_ns, names, settled, snapshots, error, now, detail, self._generation)
            self._listings[name] = listing
        return listing

    def _unchanged(self, name: str, cached: Listing, folder: Path, mtime_ns: int | None) -> Listing | None:
        """`cached` (marked settled once that is known) if the folder has not changed since it was listed, else None."""
        if mtime_ns != cached.mtime_ns:
            return None
        if cached.settled:
            return cached
        settled = _is_settled(mtime_ns)  # decided before the names are read, as in get()
        if _folder_names(folder) != cached.names:
            return None
        return self._store(name, replace(cached, settled=True)) if settled else cached

    def _store(self, name: str, listing: Listing) -> Listing:
        with self._lock:
            self._listings[name] = listing
        return listing


class PageCache:
    """A few rendered pages (split at their age markers) by the state they show; least recently used ones dropped."""

    def __init__(self, size: int = PAGE_CACHE_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple[Any, ...], tuple[str | int, ...]] = OrderedDict()
        self._filled: dict[tuple[Any, ...], tuple[int, bytes]] = {}

    def get(self, key: tuple[Any, ...]) -> tuple[str | int, ...] | None:
        """The page rendered for `key`, if still kept."""
        with self._lock:
            html = self._pages.get(key)
            if html is not None:
                self._pages.move_to_end(key)
            return html

    def put(self, key: tuple[Any, ...], page: tuple[str | int, ...]) -> None:
        """Keep a rendered page, dropping the least recently used beyond `size`."""
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                old, _ = self._pages.popitem(last=False)
                self._filled.pop(old, None)

    def filled(self, key: tuple[Any, ...], page: tuple[str | int, ...]) -> bytes:
        """`fill_ages(page)` as UTF-8 for this second, reused by every request for `key` within the same second."""
        now = datetime.now(UTC)
        second = int(now.timestamp())
        last = self._filled.get(key)
        if last is not None and last[0] == second:
            return last[1]
        html = fill_ages(page, now).encode()
        with self._lock:
            if key in self._pages:
                self._filled[key] = (second, html)
        return html


@dataclass
class DashboardCaches:
    """The caches of one app (kept in app.extensions, so two apps in one process never share them)."""

    listings: SnapshotListingCache
    pages: PageCache
    # The backup target (database and folder) is fixed for the app's life; None until first looked up.
    target: Any = None

    @classmethod
    def create(cls) -> DashboardCaches:
        """Empty caches with the default limits."""
        return cls(SnapshotListingCache(), PageCache())
