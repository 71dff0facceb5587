"""Write semantics on registry dicts (contract §7.1): create, update, delete profiles, set the default, put a registry.

Pure domain: no SQL, no HTTP. Every function takes the stored registry (normalised, as `model.decode_registry`
makes it), never mutates it, and returns the registry to store. Metadata is "touched" as the reference store does;
`expected_version` is checked when given (None = no check; unlike the reference, 0 is a real check, so a client
that read version 0 cannot overwrite a newer write). Stack topology is checked over the whole chain, so a write
can never leave a dangling reference or a cycle behind.
"""

from __future__ import annotations

import copy
from typing import Any

from registry.domain.errors import ProfileNotFound, RegistryError, ValidationError, VersionConflict
from registry.domain.model import (
    Profile,
    Registry,
    parse_profile_slug,
    parse_registry_slug,
    validate_profile,
    validate_registry,
    validate_stack_topology,
)

# Fields of a profile that a create or update body may carry (the rest is bookkeeping).
PROFILE_FIELDS = ("display_name", "description", "stack", "inference_settings", "extensions")


class AlreadyExists(RegistryError):
    """A create named a profile that is already there (409)."""


def touch(metadata: dict[str, Any], *, actor: str, source: str, now_ms: int) -> dict[str, Any]:
    """The reference's metadata touch: version+1, created_* kept (set once), updated_* set, source overwritten."""
    out = dict(metadata)
    if not out.get("created_at_ms"):
        out["created_at_ms"] = now_ms
    if actor and not out.get("created_by"):
        out["created_by"] = actor
    if source:
        out["source"] = source
    out["updated_at_ms"] = now_ms
    if actor:
        out["updated_by"] = actor
    out["version"] = int(out.get("version") or 0) + 1
    return out


def version_of(obj: dict[str, Any] | None) -> int:
    """metadata.version of a registry or profile (0 when absent)."""
    if obj is None:
        return 0
    return int((obj.get("metadata") or {}).get("version") or 0)


def check_version(resource: str, slug: str, expected: int | None, actual: int) -> None:
    """VersionConflict unless `expected` is None (no check) or equals the stored version."""
    if expected is not None and expected != actual:
        raise VersionConflict(resource, slug, expected, actual)


def _copy_registry(registry: Registry) -> Registry:
    """A copy whose top level, profile map and metadata may be changed; profiles themselves are shared.

    Nothing here mutates a profile in place (a changed profile is a new dict), so sharing the unchanged ones
    keeps a write cheap on a large registry without ever touching the registry that was passed in.
    """
    out = dict(registry)
    out["profiles"] = dict(registry.get("profiles") or {})
    out["metadata"] = dict(registry.get("metadata") or {})
    return out


def _normalised_profile(raw: dict[str, Any]) -> Profile:
    """Validate a profile built from a request (reference field names in errors), then normalise its slugs."""
    validate_profile(raw)
    profile = dict(raw)
    profile["slug"] = parse_profile_slug(raw["slug"])
    profile["stack"] = [
        {
            "registry_slug": parse_registry_slug(ref["registry_slug"])
            if (ref.get("registry_slug") or "").strip()
            else "",
            "profile_slug": parse_profile_slug(ref["profile_slug"]),
        }
        for ref in raw.get("stack") or []
    ]
    profile.setdefault("display_name", "")
    profile.setdefault("description", "")
    profile.setdefault("inference_settings", None)
    profile["metadata"] = dict(profile.get("metadata") or {})
    profile["extensions"] = dict(profile.get("extensions") or {})
    return profile


def build_profile(slug: str, fields: dict[str, Any]) -> Profile:
    """A profile from a create body; ValidationError with the reference's field names if it breaks a rule."""
    if not isinstance(slug, str):
        raise ValidationError("profile.slug", "must not be empty")
    raw: dict[str, Any] = {"slug": slug, "metadata": {}}
    for name in PROFILE_FIELDS:
        if fields.get(name) is not None:
            raw[name] = copy.deepcopy(fields[name])
    return _normalised_profile(raw)


def _stamped_and_valid(registry: Registry, actor: str, source: str, now_ms: int) -> Registry:
    """The last step of every edit: bump the registry's metadata, then refuse a result that does not validate."""
    registry["metadata"] = touch(registry.get("metadata") or {}, actor=actor, source=source, now_ms=now_ms)
    validate_registry(registry)
    return registry


def _existing_profile(registry: Registry, slug: str, expected_version: int | None) -> Profile:
    """The stored profile an edit acts on: 404 when it is missing, 409 when `expected_version` is stale."""
    current = registry["profiles"].get(slug)
    if current is None:
        raise ProfileNotFound()
    check_version("profile", slug, expected_version, version_of(current))
    return current


def create_profile(
    registry: Registry,
    profile: Profile,
    *,
    set_default: bool = False,
    expected_version: int | None = None,
    actor: str = "",
    source: str = "",
    now_ms: int,
) -> Registry:
    """Add a new profile (version 1); the first profile of a registry becomes its default."""
    slug = profile["slug"]
    existing = registry["profiles"].get(slug)
    if existing is not None:
        raise AlreadyExists(f'profile "{slug}" already exists in registry "{registry["slug"]}"')
    check_version("profile", slug, expected_version, 0)
    out = _copy_registry(registry)
    new = dict(profile)
    new["metadata"] = touch({}, actor=actor, source=source, now_ms=now_ms)
    out["profiles"][slug] = new
    if set_default or not out.get("default_profile_slug") or out["default_profile_slug"] not in out["profiles"]:
        out["default_profile_slug"] = slug
    return _stamped_and_valid(out, actor, source, now_ms)


def update_profile(
    registry: Registry,
    slug: str,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    actor: str = "",
    source: str = "",
    now_ms: int,
) -> Registry:
    """Apply a PATCH: given fields replace the stored ones, `extensions` merge by key (null deletes a key)."""
    unknown = sorted(set(changes) - set(PROFILE_FIELDS) - {"set_default"})
    if unknown:
        raise ValidationError(f"profile.{unknown[0]}", "cannot be changed")
    current = _existing_profile(registry, slug, expected_version)
    raw = dict(current)
    for name in PROFILE_FIELDS:
        if name not in changes:
            continue
        value = changes[name]
        if name == "extensions":
            merged = dict(raw.get("extensions") or {})
            for key, item in (value or {}).items():
                if item is None:
                    merged.pop(key, None)
                else:
                    merged[key] = item
            raw["extensions"] = merged
        elif name in ("display_name", "description"):
            raw[name] = value or ""
        elif name == "stack":
            raw[name] = value or []
        else:
            raw[name] = value
    new = _normalised_profile(raw)
    new["metadata"] = touch(current.get("metadata") or {}, actor=actor, source=source, now_ms=now_ms)
    out = _copy_registry(registry)
    out["profiles"][slug] = new
    if changes.get("set_default"):
        out["default_profile_slug"] = slug
    return _stamped_and_valid(out, actor, source, now_ms)


def delete_profile(
    registry: Registry,
    slug: str,
    *,
    expected_version: int | None = None,
    actor: str = "",
    source: str = "",
    now_ms: int,
) -> Registry:
    """Remove a profile. Removing the default while others remain is refused: set another default first."""
    _existing_profile(registry, slug, expected_version)
    out = _copy_registry(registry)
    del out["profiles"][slug]
    if out.get("default_profile_slug") == slug:
        if out["profiles"]:
            raise ValidationError(
                "registry.default_profile_slug",
                f'profile "{slug}" is the default profile; set another default before deleting it',
            )
        out["default_profile_slug"] = ""
    return _stamped_and_valid(out, actor, source, now_ms)


def set_default(
    registry: Registry,
    slug: str,
    *,
    expected_version: int | None = None,
    actor: str = "",
    source: str = "",
    now_ms: int,
) -> Registry:
    """Make an existing profile the registry's default; `expected_version` is the registry's version."""
    if slug not in registry["profiles"]:
        raise ProfileNotFound()
    check_version("registry", registry["slug"], expected_version, version_of(registry))
    out = _copy_registry(registry)
    out["default_profile_slug"] = slug
    return _stamped_and_valid(out, actor, source, now_ms)


def put_registry(
    existing: Registry | None,
    incoming: Registry,
    *,
    expected_version: int | None = None,
    actor: str = "",
    source: str = "",
    now_ms: int,
) -> Registry:
    """UpsertRegistry: validate the input, keep stored registry metadata, replace the profile map wholesale."""
    validate_registry(incoming)
    slug = incoming["slug"]
    out = _copy_registry(incoming)
    if existing is None:
        check_version("registry", slug, expected_version, 0)
        out["metadata"] = dict(incoming.get("metadata") or {})
    else:
        check_version("registry", slug, expected_version, version_of(existing))
        out["metadata"] = dict(existing.get("metadata") or {})
        if not out.get("default_profile_slug") and existing.get("default_profile_slug") in out["profiles"]:
            out["default_profile_slug"] = existing["default_profile_slug"]
    return _stamped_and_valid(out, actor, source, now_ms)


def delete_registry(existing: Registry, *, expected_version: int | None = None) -> None:
    """Check that a registry may be deleted (its version); the caller removes the row."""
    check_version("registry", existing["slug"], expected_version, version_of(existing))


# --- stack topology across the whole chain -----------------------------------------------------------------

Node = tuple[str, str]


def _closure(registries: dict[str, Registry], start: Node) -> tuple[set[Node], set[str]]:
    """Profiles reachable from `start` through stack refs, and every registry slug those refs name."""
    seen: set[Node] = set()
    named: set[str] = {start[0]}
    todo = [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        profile = (registries.get(node[0]) or {}).get("profiles", {}).get(node[1])
        for ref in (profile or {}).get("stack") or []:
            target = (ref.get("registry_slug") or node[0], ref["profile_slug"])
            named.add(target[0])
            if target[1] in (registries.get(target[0]) or {}).get("profiles", {}):
                todo.append(target)
    return seen, named


def _node_error(registries: dict[str, Registry], node: Node) -> ValidationError | None:
    """The first topology problem reachable from one profile (missing target, cycle, depth), or None."""
    reachable, _ = _closure(registries, node)
    sub: dict[str, Registry] = {}
    for reg, prof in sorted(reachable):
        sub.setdefault(reg, {"slug": reg, "profiles": {}})["profiles"][prof] = registries[reg]["profiles"][prof]
    try:
        validate_stack_topology(sub, allow_unresolved_external=False)
    except ValidationError as exc:
        return exc
    return None


def check_chain_topology(before: dict[str, Registry], after: dict[str, Registry], changed: str) -> None:
    """Refuse a write whose result has a dangling stack ref, a cycle or an over-deep stack touching `changed`.

    Only profiles whose stacks reach the changed registry are checked, and a problem that the same profile
    already had before the write is tolerated, so one broken registry elsewhere does not block every write.
    """
    for reg_slug in sorted(after):
        for prof_slug in sorted(after[reg_slug].get("profiles") or {}):
            node = (reg_slug, prof_slug)
            if changed not in _closure(after, node)[1]:
                continue
            error = _node_error(after, node)
            if error is None:
                continue
            if prof_slug in (before.get(reg_slug) or {}).get("profiles", {}):
                old = _node_error(before, node)
                if old is not None and str(old) == str(error):
                    continue
            raise error
