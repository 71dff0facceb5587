"""The handle a store's `write()` yields: what the caller asked to do to one row (RowTransaction in interface.py)."""

from __future__ import annotations

from registry.domain.model import Registry
from registry.storage.interface import RowWrite


class PendingRowWrite:
    """The row as committed when the transaction started, and the put or delete the caller asked for."""

    def __init__(
        self, slug: str, current: Registry | None, reason: str | None, now_ms: int, current_updated_at_ms: int | None
    ) -> None:
        self.slug = slug
        self.current = current
        # What a caller compares with a stamp it showed earlier (a partial restore's diff); None: no row.
        self.current_updated_at_ms = current_updated_at_ms
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
