"""Formatting helpers for the dashboard: UTC times, ages ("3 min ago"), byte sizes, readable JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def to_datetime(value: float | datetime) -> datetime:
    """A UTC datetime from milliseconds since the epoch or from a datetime (a naive one is taken as UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def utc_time(value: float | datetime | None) -> str:
    """`2026-11-26 19:03:23 UTC`; a zero or missing updated_at_ms (never written by the reference) is `never`."""
    if value is None or (not isinstance(value, datetime) and value <= 0):
        return "never"
    return to_datetime(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(value: float | datetime | None, now: datetime | None = None) -> str:
    """How long ago, rounded down to one unit: `just now`, `3 min ago`, `5 h ago`, `12 days ago`; future is `in ...`."""
    if value is None or (not isinstance(value, datetime) and value <= 0):
        return ""
    now = now or datetime.now(UTC)
    return age_of_seconds(int((to_datetime(now) - to_datetime(value)).total_seconds()))


_UNITS = ((86400 * 365, "year", "years"), (86400, "day", "days"), (3600, "h", "h"), (60, "min", "min"), (1, "s", "s"))


def age_of_seconds(seconds: int) -> str:
    """`age` for a difference in whole seconds (positive: in the past); integer arithmetic only, it runs per row."""
    future = seconds < 0
    seconds = -seconds if future else seconds
    if seconds < 10:
        return "just now"
    for size, one, many in _UNITS:
        if seconds >= size:
            count = seconds // size
            text = f"{count} {one if count == 1 else many}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"  # unreachable: the loop ends at one-second units


def file_size(size: int | None) -> str:
    """Bytes in binary units with one decimal (`512 B`, `12.5 KiB`, `3.0 MiB`)."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # unreachable: GiB ends the loop


def pretty_json(value: Any) -> str:
    """Indented JSON with keys in their stored order, for <pre> blocks (escaped by the template)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def iso_time(value: float | datetime) -> str:
    """A machine-readable UTC time for <time datetime=...>: `2026-11-26T19:03:23Z`."""
    return to_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
