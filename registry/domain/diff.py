"""What differs between two sets of registries (live data and a snapshot, or two snapshots): pure Python.

The result is per registry, then per profile, a list of field changes at JSON-pointer paths (RFC 6901) with the
value before and after. Both sides are compared as the store writes them (`encode_registry`/`encode_profile`), so
a difference shown is a difference in the stored bytes' meaning, not in how a payload happened to be decoded.
Paths are found on the raw documents, values are shown from redacted ones: a changed secret is listed as a change
whose two values both read `<redacted>`, never with its text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.domain.documents import redacted_profile
from registry.domain.model import Profile, Registry, encode_metadata, encode_profile

# A registry's own text fields; its metadata is compared too, and its profiles map profile by profile.
_REGISTRY_TEXT_FIELDS = ("display_name", "description", "default_profile_slug")


class _Absent:
    """The marker for "this side has no value here" (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class RegistryState:
    """One side's row for a registry: the decoded registry, or the reason it cannot be read (a quarantined row)."""

    registry: Registry | None
    updated_at_ms: int
    problem: str | None = None


@dataclass(frozen=True)
class FieldChange:
    """One value that differs, at a JSON pointer inside the profile (or registry) document.

    `op` says which sides hold a value, in JSON Patch's words: `add` (only after), `remove` (only before),
    `replace` (both).
    """

    path: str
    before: Any = ABSENT
    after: Any = ABSENT

    @property
    def op(self) -> str:
        if self.before is ABSENT:
            return "add"
        if self.after is ABSENT:
            return "remove"
        return "replace"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "op": self.op}
        if self.before is not ABSENT:
            out["before"] = self.before
        if self.after is not ABSENT:
            out["after"] = self.after
        return out


@dataclass(frozen=True)
class ProfileDiff:
    """One profile that differs: `added` (only after), `removed` (only before) or `changed`, with its fields."""

    slug: str
    change: str
    fields: list[FieldChange]

    def to_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "change": self.change, "fields": [f.to_dict() for f in self.fields]}


@dataclass(frozen=True)
class RegistryDiff:
    """One registry on both sides: `added`, `removed`, `changed`, `same`, or `unreadable` (a side has a bad row).

    `before_updated_at_ms`/`after_updated_at_ms` are the rows' stamps (None: no row on that side); the before stamp
    is what a partial restore checks to know that nobody edited the registry since this diff was shown.
    """

    slug: str
    change: str
    before_updated_at_ms: int | None
    after_updated_at_ms: int | None
    fields: list[FieldChange] = field(default_factory=list)
    profiles: list[ProfileDiff] = field(default_factory=list)
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "change": self.change,
            "before_updated_at_ms": self.before_updated_at_ms,
            "after_updated_at_ms": self.after_updated_at_ms,
            "fields": [f.to_dict() for f in self.fields],
            "profiles": [p.to_dict() for p in self.profiles],
            "problem": self.problem,
        }


def pointer(parts: tuple[str | int, ...]) -> str:
    """The RFC 6901 JSON pointer of a path (`~` and `/` inside a key are escaped as `~0` and `~1`)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def value_at(document: Any, parts: tuple[str | int, ...]) -> Any:
    """The value at a path; where redaction replaced a whole subtree by one string, that string."""
    value = document
    for part in parts:
        in_dict = isinstance(value, dict) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
        if in_dict or in_list:
            value = value[part]
        else:
            return value if isinstance(value, str) else ABSENT
    return value


def changed_paths(
    before: Any, after: Any, parts: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every path where two JSON values differ, with `add`/`remove`/`replace`; objects and equal-length lists are
    compared member by member, anything else (a list that grew or shrank, a type change) as one value."""
    if before is ABSENT or after is ABSENT:
        return [] if before is after else [(parts, "add" if before is ABSENT else "remove")]
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        # The documents' own key order (the reference's field order; extensions are sorted by encoding).
        for key in list(before) + [k for k in after if k not in before]:
            out.extend(changed_paths(before.get(key, ABSENT), after.get(key, ABSENT), parts + (key,)))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out.extend(changed_paths(b, a, parts + (i,)))
        return out
    # 1 == 1.0 == True in Python; JSON tells them apart (the stored text would differ), so types count.
    if type(before) is not type(after) or before != after:
        return [(parts, "replace")]
    return []


def _field_changes(raw_before: Any, raw_after: Any, shown_before: Any, shown_after: Any) -> list[FieldChange]:
    changes = []
    for parts, op in changed_paths(raw_before, raw_after):
        changes.append(
            FieldChange(
                pointer(parts),
                ABSENT if op == "add" else value_at(shown_before, parts),
                ABSENT if op == "remove" else value_at(shown_after, parts),
            )
        )
    return changes


def diff_profile(slug: str, before: Profile | None, after: Profile | None) -> ProfileDiff | None:
    """How a profile differs (paths relative to the profile document); None when it is the same on both sides."""
    raw_before = encode_profile(before) if before is not None else {}
    raw_after = encode_profile(after) if after is not None else {}
    fields = _field_changes(
        raw_before,
        raw_after,
        redacted_profile(before) if before is not None else {},
        redacted_profile(after) if after is not None else {},
    )
    if before is None:
        return ProfileDiff(slug, "added", fields)
    if after is None:
        return ProfileDiff(slug, "removed", fields)
    return ProfileDiff(slug, "changed", fields) if fields else None


def _registry_fields(registry: Registry | None) -> dict[str, Any]:
    if registry is None:
        return {}
    out: dict[str, Any] = {name: registry[name] for name in _REGISTRY_TEXT_FIELDS if registry.get(name)}
    metadata = encode_metadata(registry.get("metadata") or {})
    if metadata:
        out["metadata"] = metadata
    return out


def diff_registry(slug: str, before: RegistryState | None, after: RegistryState | None) -> RegistryDiff:
    """One registry: its own fields (paths relative to the registry document) and each profile that differs."""
    before_ms = before.updated_at_ms if before is not None else None
    after_ms = after.updated_at_ms if after is not None else None
    bad = next((s.problem for s in (before, after) if s is not None and s.problem), None)
    if bad is not None:
        # A row that does not decode has no fields to compare; restoring replaces (or removes) it whole.
        return RegistryDiff(slug, "unreadable", before_ms, after_ms, problem=bad)
    reg_before = before.registry if before is not None else None
    reg_after = after.registry if after is not None else None
    own = _registry_fields(reg_before), _registry_fields(reg_after)
    fields = _field_changes(own[0], own[1], own[0], own[1])
    profiles_before = (reg_before or {}).get("profiles") or {}
    profiles_after = (reg_after or {}).get("profiles") or {}
    profiles = [
        d
        for name in sorted(set(profiles_before) | set(profiles_after))
        if (d := diff_profile(name, profiles_before.get(name), profiles_after.get(name))) is not None
    ]
    if before is None:
        change = "added"
    elif after is None:
        change = "removed"
    else:
        change = "changed" if fields or profiles else "same"
    return RegistryDiff(slug, change, before_ms, after_ms, fields, profiles)


def diff_registries(before: dict[str, RegistryState], after: dict[str, RegistryState]) -> list[RegistryDiff]:
    """Every registry on either side, sorted by slug, with what differs from `before` to `after`."""
    return [diff_registry(slug, before.get(slug), after.get(slug)) for slug in sorted(set(before) | set(after))]
