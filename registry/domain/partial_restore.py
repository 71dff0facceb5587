"""Restoring one registry or some profiles from a snapshot, as a write: what the registry row becomes (pure Python).

A partial restore is not a copy of old bytes: it is a write made now, validated like any other. The restored
content is the snapshot's; the bookkeeping is a write's: `updated_at_ms`/`updated_by`/`source` of this restore, and
each restored profile's (and the registry's) version set past both the live one and the snapshot's, so a client
holding either version gets a 409 instead of overwriting the restored data. A profile whose content is the same on
both sides is left exactly as it is.
"""

from __future__ import annotations

import copy
from typing import Any

from registry.domain.edits import touch, version_of
from registry.domain.errors import RegistryError
from registry.domain.model import Profile, Registry, encode_profile

SOURCE = "restore"  # metadata.source of what a partial restore writes


class RestoreRefused(RegistryError):
    """A partial restore that cannot be done as asked (a selection that names nothing, a quarantined row)."""


class RestoreConflict(RegistryError):
    """A registry changed after the diff the operator saw (or while the safety snapshot was taken): 409."""

    def __init__(self, slug: str, expected: int | None, actual: int | None, why: str) -> None:
        super().__init__(
            f'registry "{slug}" {why}: updated_at_ms expected={_stamp(expected)} actual={_stamp(actual)}; '
            "nothing was restored"
        )
        self.slug, self.expected, self.actual = slug, expected, actual


def _stamp(value: int | None) -> str:
    return "absent" if value is None else str(value)


def _content(profile: Profile) -> dict[str, Any]:
    """A profile as stored, without its bookkeeping: what decides whether restoring it changes anything."""
    doc = encode_profile(profile)
    doc.pop("metadata", None)
    return doc


def _restored_profile(live: Profile | None, snapshot: Profile, *, actor: str, now_ms: int) -> Profile:
    """The snapshot's profile, written now: its version past both sides' versions."""
    if live is not None and _content(live) == _content(snapshot):
        return live
    out = copy.deepcopy(snapshot)
    metadata = dict(out.get("metadata") or {})
    metadata["version"] = max(version_of(live), version_of(snapshot))
    out["metadata"] = touch(metadata, actor=actor, source=SOURCE, now_ms=now_ms)
    return out


def _registry_metadata(live: Registry | None, base: Registry, *, actor: str, now_ms: int) -> dict[str, Any]:
    metadata = dict(base.get("metadata") or {})
    metadata["version"] = max(version_of(live), version_of(base))
    return touch(metadata, actor=actor, source=SOURCE, now_ms=now_ms)


def restore_registry(live: Registry | None, snapshot: Registry | None, *, actor: str, now_ms: int) -> Registry | None:
    """The whole registry as the snapshot holds it (None: the snapshot has no such registry, so the row goes)."""
    if snapshot is None:
        return None
    live_profiles = (live or {}).get("profiles") or {}
    out = copy.deepcopy(snapshot)
    out["profiles"] = {
        slug: _restored_profile(live_profiles.get(slug), profile, actor=actor, now_ms=now_ms)
        for slug, profile in snapshot["profiles"].items()
    }
    out["metadata"] = _registry_metadata(live, snapshot, actor=actor, now_ms=now_ms)
    return out


def restore_profiles(
    live: Registry, snapshot: Registry | None, profiles: list[str], *, actor: str, now_ms: int
) -> Registry:
    """`live` with each named profile as the snapshot holds it (removed where the snapshot lacks it)."""
    if snapshot is None:
        raise RestoreRefused(
            f'the snapshot holds no registry "{live["slug"]}"; restore the whole registry to remove it'
        )
    out = copy.deepcopy(live)
    for slug in profiles:
        restored = snapshot["profiles"].get(slug)
        if restored is None:
            if slug not in out["profiles"]:
                raise RestoreRefused(
                    f'profile "{slug}" is in neither the snapshot nor the live registry "{live["slug"]}"'
                )
            del out["profiles"][slug]
        else:
            out["profiles"][slug] = _restored_profile(out["profiles"].get(slug), restored, actor=actor, now_ms=now_ms)
    out["metadata"] = _registry_metadata(live, live, actor=actor, now_ms=now_ms)
    return out


def registry_content(registry: Registry) -> dict[str, Any]:
    """A registry as stored without any bookkeeping: equal content means restoring it changes nothing."""
    out: dict[str, Any] = {
        name: registry.get(name) or "" for name in ("display_name", "description", "default_profile_slug")
    }
    out["profiles"] = {slug: _content(p) for slug, p in sorted((registry.get("profiles") or {}).items())}
    return out


def broken_references(registries: dict[str, Registry], changed: set[str]) -> list[str]:
    """Each stack reference into a changed registry whose target is gone: `from/profile -> to/profile (missing)`."""
    broken = []
    for reg_slug in sorted(registries):
        for prof_slug, profile in sorted((registries[reg_slug].get("profiles") or {}).items()):
            for ref in profile.get("stack") or []:
                target_reg = ref.get("registry_slug") or reg_slug
                if target_reg not in changed:
                    continue
                target = registries.get(target_reg)
                if target is None or ref["profile_slug"] not in (target.get("profiles") or {}):
                    broken.append(
                        f"{reg_slug}/{prof_slug} stacks on {target_reg}/{ref['profile_slug']}, which the restored "
                        f'registry "{target_reg}" would not hold'
                    )
    return broken
