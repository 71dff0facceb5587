"""The snapshot history chart: sizes and newest updated_at_ms over the snapshots, as inline SVG made on the server.

Two panels share one x axis (snapshots in the order they were taken, evenly spaced so a burst of backups stays
readable). Every mark carries a <title>, so hovering shows the exact figures without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

from registry.dashboard.formatting import file_size, utc_time

WIDTH = 720
PANEL_HEIGHT = 110
GAP = 34
LEFT = 86  # room for the y-axis labels
RIGHT = 12
TOP = 22


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


def render_chart(points: list[ChartPoint]) -> Markup:
    """An accessible SVG (role=img, title, desc) for the points in chronological order; empty Markup without any."""
    if not points:
        return Markup("")
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + PANEL_HEIGHT * 2 + GAP + 26
    step = plot_w / len(points)
    bar_w = min(max(step * 0.7, 1.0), 28.0)  # a few snapshots must not become slabs
    parts: list[str] = []
    first, last = points[0], points[-1]
    summary = (
        f"{len(points)} snapshots from {utc_time(first.created_at)} to {utc_time(last.created_at)}; "
        f"latest size {file_size(last.size)}"
    )
    parts.append(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="chart-title">Snapshot history: size and newest updated_at_ms</title>'
        f'<desc id="chart-desc">{escape(summary)}</desc>'
    )

    # Panel 1: sizes as bars from zero.
    top1 = TOP
    base1 = top1 + PANEL_HEIGHT
    max_size = max(p.size for p in points) or 1
    parts.append(f'<text class="chart-label" x="{LEFT}" y="{top1 - 8}">Snapshot size</text>')
    parts.append(
        f'<text class="chart-axis" x="{LEFT - 6}" y="{top1 + 4}" text-anchor="end">{escape(file_size(max_size))}</text>'
    )
    parts.append(f'<text class="chart-axis" x="{LEFT - 6}" y="{base1}" text-anchor="end">0</text>')
    parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{base1}" x2="{WIDTH - RIGHT}" y2="{base1}"/>')
    parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{top1}" x2="{WIDTH - RIGHT}" y2="{top1}"/>')
    for i, point in enumerate(points):
        h = PANEL_HEIGHT * point.size / max_size
        x = LEFT + i * step + (step - bar_w) / 2
        tip = f"{point.name}: {file_size(point.size)} ({point.size} bytes)"
        parts.append(
            f'<rect class="chart-bar" x="{_fmt(x)}" y="{_fmt(base1 - h)}" width="{_fmt(bar_w)}" height="{_fmt(h)}">'
            f"<title>{escape(tip)}</title></rect>"
        )

    # Panel 2: newest updated_at_ms as a line between the readable snapshots; min..max of the values.
    top2 = base1 + GAP
    base2 = top2 + PANEL_HEIGHT
    stamps = [p.newest_updated_at_ms for p in points if p.newest_updated_at_ms is not None]
    parts.append(f'<text class="chart-label" x="{LEFT}" y="{top2 - 8}">Newest updated_at_ms inside</text>')
    parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{base2}" x2="{WIDTH - RIGHT}" y2="{base2}"/>')
    parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{top2}" x2="{WIDTH - RIGHT}" y2="{top2}"/>')
    if stamps:
        low, high = min(stamps), max(stamps)
        span = (high - low) or 1
        parts.append(
            f'<text class="chart-axis" x="{LEFT - 6}" y="{top2 + 4}" text-anchor="end">'
            f"{escape(_axis_time(high, low))}</text>"
        )
        parts.append(
            f'<text class="chart-axis" x="{LEFT - 6}" y="{base2}" text-anchor="end">'
            f"{escape(_axis_time(low, high))}</text>"
        )
        coords = []
        for i, point in enumerate(points):
            if point.newest_updated_at_ms is None:
                continue
            x = LEFT + i * step + step / 2
            # Equal values sit mid-panel: a flat line at the bottom would read as "zero".
            y = (
                top2 + PANEL_HEIGHT / 2
                if high == low
                else base2 - PANEL_HEIGHT * (point.newest_updated_at_ms - low) / span
            )
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
        parts.append(f'<text class="chart-axis" x="{LEFT}" y="{top2 + 40}">no readable snapshot</text>')

    # Shared x axis: the first and last snapshot times.
    parts.append(f'<text class="chart-axis" x="{LEFT}" y="{height - 6}">{escape(utc_time(first.created_at))}</text>')
    if len(points) > 1:
        parts.append(
            f'<text class="chart-axis" x="{WIDTH - RIGHT}" y="{height - 6}" text-anchor="end">'
            f"{escape(utc_time(last.created_at))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
