"""The handle a store's `write()` yields: what the caller asked to do to one row (RowTransaction in interface.py)."""

from __future__ import annotations

from registry.domain.model import Registry
from registry.storage.interface import RowWrite


class PendingRowWrite:
    """The row as committed when the transaction started, and the put or delete the caller asked for."""

    def __init__(self, slug: str, current: Registry | None, reason: str | None, now_ms: int) -> None:
        self.slug = slug
        self.current = current
        self.quarantine_reason = reason
        self.now_ms = now_ms
        self.after: Registry | None = current
        self.changed = False

    def put(self, registry: Registry) -> None:
        self.after, self.changed = registry, True

    def delete(self) -> None:
        self.after, self.changed = None, True

    def result(self) -> RowWrite:
        return RowWrite(self.current, self.after, self.quarantine_reason, self.now_ms)
