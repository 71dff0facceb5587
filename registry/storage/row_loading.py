"""Turning the table's rows into a StoreSnapshot, the same way whatever engine stored them.

Both stores read every row (slug, payload_json, updated_at_ms) when something changed and hand them to one
`RowLoader`, which decodes only rows whose text changed since the last load, quarantines bad rows with their reason
(logged once per row and reason), and keeps the very same snapshot object when every row is as it was.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from registry.domain import gotypes
from registry.domain.errors import SlugError, ValidationError
from registry.domain.model import DecodeError, Registry, decode_registry, parse_registry_slug, validate_registry
from registry.storage.interface import LoadedRegistry, QuarantinedRow, StoreSnapshot

log = logging.getLogger(__name__)


# The largest payload_json parsed (setting REGISTRY_MAX_ROW_BYTES). A row's JSON decodes to several times its size in
# Python objects, and the sqlite3 shell (or anyone with write access to the file) can store a row of any size:
# a larger row is quarantined by its size alone, before any parsing.
DEFAULT_MAX_ROW_BYTES = 16 * 1024 * 1024


def oversize_reason(size: int, max_row_bytes: int) -> str | None:
    """The quarantine reason of a payload of `size` UTF-8 bytes, or None when it is within the limit."""
    if size <= max_row_bytes:
        return None
    return (
        f"payload_json is {size} bytes, more than the {max_row_bytes} allowed (REGISTRY_MAX_ROW_BYTES); "
        "not parsed"
    )


def utf8_size(text: str) -> int:
    """UTF-8 size of `text` without copying it when its length alone decides (each character is 1 to 4 bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def parse_row(row_slug: str, payload_json: str) -> Registry:
    """Decode and validate one row as the reference does at load (contract §1.3); raises with the reason.

    It parses whatever it is given: callers check the size first (decode_or_reason, inspect_payload).
    """
    try:
        payload = json.loads(payload_json)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"payload_json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    try:
        # Go's typed decode comes first there: a value its structs cannot hold fails the whole row.
        gotypes.check_registry(payload)
    except gotypes.GoDecodeError as exc:
        raise DecodeError(str(exc)) from exc
    registry = decode_registry(payload)
    row = parse_registry_slug(row_slug)
    if not registry["slug"]:
        registry["slug"] = row
    elif registry["slug"] != row:
        raise DecodeError(f'sqlite profile store: slug mismatch payload="{registry["slug"]}" row="{row}"')
    validate_registry(registry)
    return registry


class RowLoader:
    """The last rows loaded, what each row's text decoded to, and the snapshot built from them."""

    def __init__(self, *, report_quarantine: bool = True, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> None:
        self.report_quarantine = report_quarantine  # False: a one-off read (a comparison) that logs nothing
        self.max_row_bytes = max_row_bytes
        self.snapshot = StoreSnapshot()
        self._rows: Sequence[Any] | None = None
        self._parsed: dict[str, tuple[str, Registry | str]] = {}
        self._reported: set[tuple[str, str]] = set()

    def load(self, rows: Sequence[Any]) -> StoreSnapshot:
        """The snapshot of `rows` (slug, payload_json, updated_at_ms), sorted by slug; the same object if unchanged."""
        if rows == self._rows:
            return self.snapshot
        self._rows = rows
        registries: dict[str, LoadedRegistry] = {}
        quarantined: dict[str, QuarantinedRow] = {}
        parsed: dict[str, tuple[str, Registry | str]] = {}
        for row_slug, raw_payload, updated_at_ms in rows:
            # The sqlite3 shell can store anything in these columns: a BLOB, a number, bytes that are not UTF-8.
            row_slug = row_slug if isinstance(row_slug, str) else str(row_slug)
            payload_json, text_problem = payload_text(raw_payload)
            cached = self._parsed.get(row_slug)
            if cached is not None and cached[0] == payload_json:
                result = cached[1]
            else:
                result = text_problem or decode_or_reason(row_slug, payload_json, self.max_row_bytes)
            parsed[row_slug] = (payload_json, result)
            size = utf8_size(payload_json)
            updated, stamp_problem = row_timestamp(updated_at_ms)
            if stamp_problem and not isinstance(result, str):
                result = stamp_problem
            if isinstance(result, str):
                key = normalised_or_raw(row_slug)
                quarantined[key] = QuarantinedRow(key, result, updated, size)
                if self.report_quarantine and (key, result) not in self._reported:
                    self._reported.add((key, result))
                    log.error("registry %r quarantined: %s", key, result)
            else:
                # Two rows that normalise to one slug: the later row wins, as in the reference.
                registries[result["slug"]] = LoadedRegistry(result["slug"], result, updated, size)
        self._parsed = parsed
        self.snapshot = StoreSnapshot(registries, quarantined, self.snapshot.generation + 1)
        return self.snapshot

    def decoded(self, row_slug: str, payload_json: str) -> tuple[Registry | None, str | None]:
        """One row's registry or quarantine reason, reusing the last load's work when the text is the same.

        The registry returned may be shared with the loaded snapshot: callers must not mutate it (edits never do).
        """
        cached = self._parsed.get(row_slug)
        if cached is not None and cached[0] == payload_json:
            result = cached[1]
        else:
            result = decode_or_reason(row_slug, payload_json, self.max_row_bytes)
        return (None, result) if isinstance(result, str) else (result, None)


def decode_or_reason(row_slug: str, payload_json: str, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Registry | str:
    """The registry, or the reason it is quarantined (a row over `max_row_bytes` without parsing it)."""
    too_large = oversize_reason(utf8_size(payload_json), max_row_bytes)
    if too_large:
        return too_large
    try:
        return parse_row(row_slug, payload_json)
    except (DecodeError, SlugError, ValidationError) as exc:
        return str(exc)
    except RecursionError:
        return "payload_json is nested too deeply to decode"
    except Exception as exc:  # noqa: BLE001 - one bad row must never take every request down with it
        return f"payload_json could not be decoded: {type(exc).__name__}: {exc}"


def payload_text(value: object) -> tuple[str, str | None]:
    """The payload as text, and the quarantine reason when it is not UTF-8 text."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return value.decode("utf-8", "replace"), f"payload_json is not UTF-8 text: {exc.reason} at byte {exc.start}"
    return str(value), None


def row_timestamp(value: object) -> tuple[int, str | None]:
    """A row's updated_at_ms as (milliseconds, None), or (0, the quarantine reason) when it is not an integer.

    The column is declared INTEGER, but the sqlite3 shell can still store text that is no number ('yesterday'),
    a REAL (9e999 is infinity) or, in a table without NOT NULL, NULL (read as 0, as the reference's scan does).
    """
    if value is None:
        return 0, None
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    return 0, f"updated_at_ms is not an integer: {value!r}"


def normalised_or_raw(slug: str) -> str:
    try:
        return parse_registry_slug(slug)
    except SlugError:
        return slug
