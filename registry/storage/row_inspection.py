"""Row inspection for `profile-registry inspect`: each row's size and health, and where a bad payload breaks.

For a JSON syntax error the position comes from the decoder. For a payload that parses but fails to decode or
validate, the error's field path (`registry.profiles[agent].stack[0]`) is mapped back to the place in the text
where that value (or its nearest existing parent) starts, so the operator sees the line, column and a caret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from registry.domain.errors import SlugError, ValidationError
from registry.domain.model import DecodeError, decode_registry, validate_profile
from registry.storage.row_loading import DEFAULT_MAX_ROW_BYTES, oversize_reason, parse_row, row_timestamp, utf8_size
from registry.storage.sqlite_db import DatabaseTarget
from registry.storage.sqlite_store import stored_rows

EXCERPT_WIDTH = 72
JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    """A place in a payload: 1-based line and column, the character offset, and a two-line caret excerpt."""

    line: int
    column: int
    offset: int
    excerpt: str
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "offset": self.offset,
            "excerpt": self.excerpt,
            "path": self.path,
        }


@dataclass(frozen=True)
class RowReport:
    """One row of profile_registries as inspected."""

    slug: str
    updated_at_ms: int
    size: int
    error: str | None
    location: Location | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "updated_at_ms": self.updated_at_ms,
            "size": self.size,
            "ok": self.ok,
            "error": self.error,
            "location": self.location.to_dict() if self.location else None,
        }


def excerpt(text: str, offset: int, width: int = EXCERPT_WIDTH) -> tuple[int, int, str]:
    """(line, column, excerpt) for an offset: the line around the offset, cut to `width`, and a caret under it."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    end = len(text) if end == -1 else end
    column = offset - start + 1
    lo = max(start, offset - width // 2)
    hi = min(end, lo + width)
    snippet = text[lo:hi].replace("\t", " ")
    prefix = "..." if lo > start else ""
    suffix = "..." if hi < end else ""
    caret = " " * (len(prefix) + offset - lo) + "^"
    return line, column, f"{prefix}{snippet}{suffix}\n{caret}"


def value_offsets(text: str) -> dict[JsonPath, int]:
    """Offset of every value in a valid JSON text, keyed by its path; object keys are kept as written."""
    offsets: dict[JsonPath, int] = {}
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def skip(i: int) -> int:
        return ws.match(text, i).end()  # type: ignore[union-attr]

    def parse(i: int, path: JsonPath) -> int:
        i = skip(i)
        offsets[path] = i
        if text.startswith("{", i):
            i = skip(i + 1)
            if text.startswith("}", i):
                return i + 1
            while True:
                key, i = json.decoder.scanstring(text, skip(i) + 1)  # type: ignore[attr-defined]
                i = skip(i) + 1  # the colon
                i = skip(parse(i, (*path, key)))
                if text.startswith("}", i):
                    return i + 1
                i += 1  # the comma
        if text.startswith("[", i):
            i = skip(i + 1)
            if text.startswith("]", i):
                return i + 1
            index = 0
            while True:
                i = skip(parse(i, (*path, index)))
                index += 1
                if text.startswith("]", i):
                    return i + 1
                i += 1
        _, end = decoder.raw_decode(text, i)
        return end

    parse(0, ())
    return offsets


_FIELD_PART = re.compile(r"\.?([^.\[\]]+)|\[([^\]]*)\]")


def field_path(field: str) -> JsonPath:
    """`registry.profiles[agent].stack[0].profile_slug` -> ("profiles", "agent", "stack", 0, "profile_slug")."""
    parts: list[str | int] = []
    for name, index in _FIELD_PART.findall(field):
        if name:
            parts.append(name)
        elif index.isdigit():
            parts.append(int(index))
        else:
            parts.append(index)
    if parts and parts[0] == "registry":
        parts = parts[1:]
    return tuple(parts)


def _resolve(path: JsonPath, offsets: dict[JsonPath, int]) -> tuple[JsonPath, int]:
    """The deepest existing prefix of `path` (object keys matched case-insensitively, as Go's decoder does)."""
    found: JsonPath = ()
    for part in path:
        candidates = [(*found, part)]
        if isinstance(part, str) and part.isdigit():  # a JSON-pointer token that is an array index
            candidates.append((*found, int(part)))
        if isinstance(part, str):
            candidates += [
                p
                for p in offsets
                if len(p) == len(found) + 1
                and p[:-1] == found
                and isinstance(p[-1], str)
                and p[-1].lower() == part.lower()
            ]
        match = next((c for c in candidates if c in offsets), None)
        if match is None:
            break
        found = match
    return found, offsets.get(found, 0)


def _error_path(payload: Any, exc: Exception) -> JsonPath:
    """The JSON path an error points at, from its field name; profile-level validation names the profile."""
    if isinstance(exc, ValidationError):
        field = exc.field
        if field.startswith("profile") and not field.startswith("profiles"):
            # validate_profile does not say which profile: find the first one (in validation order) that fails.
            try:
                registry = decode_registry(payload)
            except DecodeError:
                return field_path(field)
            for key in sorted(registry["profiles"]):
                try:
                    validate_profile(registry["profiles"][key])
                except ValidationError:
                    raw_key = next((k for k in (payload.get("profiles") or {}) if k.strip().lower() == key), key)
                    return ("profiles", raw_key, *field_path(field)[1:])
        return field_path(field)
    text = str(exc)
    if text.startswith("/"):  # a Go type error names its value by JSON pointer (registry.domain.gotypes)
        tokens = text.split(": ", 1)[0].split("/")[1:]
        return tuple(t.replace("~1", "/").replace("~0", "~") for t in tokens)
    match = re.match(r"(registry[^\s:]*):", text)
    return field_path(match.group(1)) if match else ()


def inspect_payload(slug: str, payload_json: str) -> tuple[str | None, Location | None]:
    """(error, location) for one row; (None, None) when it decodes and validates."""
    too_large = oversize_reason(utf8_size(payload_json), DEFAULT_MAX_ROW_BYTES)
    if too_large:
        return too_large, None  # as the service quarantines it: by its size, without parsing it
    try:
        payload = json.loads(payload_json)
    except json.JSONDecodeError as exc:
        line, column, text = excerpt(payload_json, exc.pos)
        return f"payload_json is not valid JSON: {exc.msg}", Location(line, column, exc.pos, text, "")
    try:
        parse_row(slug, payload_json)
    except (DecodeError, SlugError, ValidationError) as exc:
        path = _error_path(payload, exc)
        offsets = value_offsets(payload_json)
        found, offset = _resolve(path, offsets)
        if not found:
            # A bad slug is reported without its field: point at the first value equal to the quoted slug.
            quoted = re.search(r'"([^"]*)"', str(exc))
            value = quoted.group(1) if quoted else None
            hit = next((p for p, o in offsets.items() if value and payload_json.startswith(json.dumps(value), o)), None)
            if hit is None and value:
                hit = next((p for p in offsets if p and p[-1] == value), None)  # a bad profile map key
            if hit is not None:
                found, offset = hit, offsets[hit]
        line, column, text = excerpt(payload_json, offset)
        shown = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in found)
        return str(exc), Location(line, column, offset, text, shown)
    return None, None


def inspect_database(target: DatabaseTarget, slug: str | None = None) -> list[RowReport]:
    """Every row of the database (live or a snapshot; or the one named), sorted by slug; StorageError if unreadable."""
    reports = []
    for row_slug, payload, updated in stored_rows(target, slug or None):
        text = payload if isinstance(payload, str) else bytes(payload or b"").decode("utf-8", "replace")
        error, location = inspect_payload(str(row_slug), text)
        updated_at_ms, stamp_problem = row_timestamp(updated)
        if error is None and stamp_problem is not None:
            error = stamp_problem
        reports.append(RowReport(str(row_slug), updated_at_ms, len(text.encode("utf-8")), error, location))
    return reports
