"""A saturated server says so once a minute, not once per queued request."""

from __future__ import annotations

import logging

from registry.cli.serve import QueueDepthSummary


def queue_record(depth: int) -> logging.LogRecord:
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (depth,), None)


def test_queue_depth_warnings_are_summarised():
    summary = QueueDepthSummary(interval_s=3600)
    first = queue_record(1)
    assert summary.filter(first)
    assert first.getMessage() == "Task queue depth is 1"
    assert [summary.filter(queue_record(depth)) for depth in (2, 5, 3)] == [False, False, False]
    summary._next_at = 0.0  # the interval has passed
    later = queue_record(1)
    assert summary.filter(later)
    assert later.getMessage() == "Task queue depth is 1 (and 3 more such messages, deepest 5, since the last one)"
