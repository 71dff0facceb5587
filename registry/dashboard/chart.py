"""The snapshot history chart: sizes and newest updated_at_ms over the snapshots, as inline SVG made on the server.

Two panels share one x axis (snapshots in the order they were taken, evenly spaced so a burst of backups stays
readable). Every mark carries a <title>, so hovering shows the exact figures without JavaScript. The page gets two
drawings of the same chart, a wide one and a narrow one for phones (a wide viewBox shrunk to a phone's width
would shrink its labels to about 5 px), and the stylesheet shows one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from registry.dashboard.formatting import file_size, utc_time

WIDTH = 720  # the wide chart's viewBox width; it is never drawn wider than this (CSS max-width)
NARROW_WIDTH = 360  # the phone chart: drawn at about its own size, so its 11-unit labels stay about 11 px
PANEL_HEIGHT = 80
# A panel whose values are all equal says one thing; it gets one line of height, not a block of identical bars.
FLAT_PANEL_HEIGHT = 24
GAP = 34
RIGHT = 12
TOP = 26


@dataclass(frozen=True)
class ChartPoint:
    """One snapshot on the chart."""

    name: str
    created_at: datetime
    size: int
    newest_updated_at_ms: int | None  # None when the snapshot could not be read


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _axis_time(ms: int, other: int) -> str:
    """The date, or the time of day when both ends of the axis fall on the same UTC day."""
    text, other_text = utc_time(ms), utc_time(other)
    return text[11:19] if text[:10] == other_text[:10] else text[:10]


def render_charts(points: list[ChartPoint]) -> Markup:
    """The wide chart and the phone chart; the stylesheet shows the one that fits (no JavaScript needed)."""
    if not points:
        return Markup("")
    return render_chart(points, WIDTH, "chart-wide") + render_chart(points, NARROW_WIDTH, "chart-narrow")


def render_chart(points: list[ChartPoint], width: int = WIDTH, variant: str = "chart-wide") -> Markup:
    """An accessible SVG (role=img, title, desc) for the points in chronological order; empty Markup without any."""
    if not points:
        return Markup("")
    narrow = width < WIDTH
    left = 70 if narrow else 86  # room for the y-axis labels
    # Panel titles and the x axis need no room for y labels: on a phone they start at the edge to fit.
    text_left = 8 if narrow else left
    plot_w = width - left - RIGHT
    step = plot_w / len(points)
    bar_w = min(max(step * 0.7, 1.0), 28.0)  # a few snapshots must not become slabs
    parts: list[str] = []
    first, last = points[0], points[-1]
    summary = (
        f"{len(points)} snapshots from {utc_time(first.created_at)} to {utc_time(last.created_at)}; "
        f"latest size {file_size(last.size)}"
    )

    # Panel 1: sizes as bars from zero.
    top1 = TOP
    max_size = max(p.size for p in points) or 1
    flat_sizes = len({p.size for p in points}) == 1
    panel1 = FLAT_PANEL_HEIGHT if flat_sizes else PANEL_HEIGHT
    base1 = top1 + panel1
    title1 = f"Snapshot size: all {file_size(max_size)}" if flat_sizes else "Snapshot size"
    parts.append(f'<text class="chart-label" x="{text_left}" y="{top1 - 12}">{escape(title1)}</text>')
    if not flat_sizes:
        parts.append(
            f'<text class="chart-axis" x="{left - 6}" y="{top1 + 4}" text-anchor="end">'
            f"{escape(file_size(max_size))}</text>"
        )
        parts.append(f'<text class="chart-axis" x="{left - 6}" y="{base1}" text-anchor="end">0</text>')
    parts.append(f'<line class="chart-grid" x1="{left}" y1="{base1}" x2="{width - RIGHT}" y2="{base1}"/>')
    parts.append(f'<line class="chart-grid" x1="{left}" y1="{top1}" x2="{width - RIGHT}" y2="{top1}"/>')
    for i, point in enumerate(points):
        h = panel1 * point.size / max_size
        x = left + i * step + (step - bar_w) / 2
        tip = f"{point.name}: {file_size(point.size)} ({point.size} bytes)"
        parts.append(
            f'<rect class="chart-bar" x="{_fmt(x)}" y="{_fmt(base1 - h)}" width="{_fmt(bar_w)}" height="{_fmt(h)}">'
            f"<title>{escape(tip)}</title></rect>"
        )

    # Panel 2: newest updated_at_ms as a line between the readable snapshots; min..max of the values.
    top2 = base1 + GAP
    stamps = [p.newest_updated_at_ms for p in points if p.newest_updated_at_ms is not None]
    flat_stamps = len(set(stamps)) <= 1
    panel2 = FLAT_PANEL_HEIGHT if flat_stamps else PANEL_HEIGHT
    base2 = top2 + panel2
    title2 = "Newest updated_at_ms inside"
    if stamps and flat_stamps:
        title2 = f"Newest row: all {utc_time(stamps[0])[:19]}" if narrow else f"{title2}: all {utc_time(stamps[0])}"
    parts.append(f'<text class="chart-label" x="{text_left}" y="{top2 - 12}">{escape(title2)}</text>')
    parts.append(f'<line class="chart-grid" x1="{left}" y1="{base2}" x2="{width - RIGHT}" y2="{base2}"/>')
    parts.append(f'<line class="chart-grid" x1="{left}" y1="{top2}" x2="{width - RIGHT}" y2="{top2}"/>')
    if stamps:
        low, high = min(stamps), max(stamps)
        span = (high - low) or 1
        if not flat_stamps:
            parts.append(
                f'<text class="chart-axis" x="{left - 6}" y="{top2 + 4}" text-anchor="end">'
                f"{escape(_axis_time(high, low))}</text>"
            )
            parts.append(
                f'<text class="chart-axis" x="{left - 6}" y="{base2}" text-anchor="end">'
                f"{escape(_axis_time(low, high))}</text>"
            )
        coords = []
        for i, point in enumerate(points):
            if point.newest_updated_at_ms is None:
                continue
            x = left + i * step + step / 2
            # Equal values sit mid-panel: a flat line at the bottom would read as "zero".
            y = top2 + panel2 / 2 if flat_stamps else base2 - panel2 * (point.newest_updated_at_ms - low) / span
            coords.append((x, y, point))
        parts.append(
            '<polyline class="chart-line" fill="none" points="'
            + " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y, _ in coords)
            + '"/>'
        )
        radius = 3 if len(coords) <= 60 else 1.5
        for x, y, point in coords:
            tip = f"{point.name}: newest row {point.newest_updated_at_ms} ({utc_time(point.newest_updated_at_ms)})"
            parts.append(
                f'<circle class="chart-dot" cx="{_fmt(x)}" cy="{_fmt(y)}" '
                f'r="{radius}"><title>{escape(tip)}</title></circle>'
            )
    else:
        missing = "no snapshot with a recorded updated_at_ms"
        parts.append(f'<text class="chart-axis" x="{left}" y="{top2 + 16}">{missing}</text>')

    # Shared x axis: the first and last snapshot times (on a phone without "UTC", the second without its date when
    # both fall on the same day, so the two fit side by side).
    height = base2 + 26
    start, end = utc_time(first.created_at), utc_time(last.created_at)
    if narrow:
        start, end = start[:19], (end[11:19] if end[:10] == start[:10] else end[:19])
    parts.append(f'<text class="chart-axis" x="{text_left}" y="{height - 6}">{escape(start)}</text>')
    if len(points) > 1:
        parts.append(
            f'<text class="chart-axis" x="{width - RIGHT}" y="{height - 6}" text-anchor="end">{escape(end)}</text>'
        )
    head = (
        f'<svg class="chart {variant}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{variant}-title {variant}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{variant}-title">Snapshot history: size and newest updated_at_ms</title>'
        f'<desc id="{variant}-desc">{escape(summary)}</desc>'
    )
    return Markup(head + "".join(parts) + "</svg>")
