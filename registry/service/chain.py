"""Chaining registry sources (contract §3.4): precedence, the default registry, and lookups on one view."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from registry.domain.errors import ProfileNotFound, RegistryNotFound, RegistryQuarantined, StartupError, ValidationError
from registry.domain.model import DEFAULT_REGISTRY_SLUG, Profile, Registry
from registry.storage.interface import LoadedRegistry, QuarantinedRow
from registry.storage.sources import RegistrySource


@dataclass(frozen=True)
class ChainView:
    """An immutable, consistent view over every source at one moment; all request handling reads one of these."""

    registries: dict[str, LoadedRegistry]  # healthy registries, sorted by slug
    quarantined: dict[str, QuarantinedRow]
    precedence: tuple[str, ...]  # last source's registries first
    default_registry: str
    source_of: dict[str, str]
    key: tuple[int, ...] = ()
    cache: dict[str, object] = field(default_factory=dict, compare=False)

    def registry(self, slug: str) -> Registry:
        """A healthy registry; RegistryQuarantined if its row is bad, RegistryNotFound if absent."""
        loaded = self.registries.get(slug)
        if loaded is not None:
            return loaded.registry
        bad = self.quarantined.get(slug)
        if bad is not None:
            raise RegistryQuarantined(slug, bad.reason)
        raise RegistryNotFound()

    def profile(self, registry_slug: str, profile_slug: str) -> Profile:
        """One profile of one registry, or the matching not-found error."""
        profile = self.registry(registry_slug)["profiles"].get(profile_slug)
        if profile is None:
            raise ProfileNotFound()
        return profile

    def find_profile(self, profile_slug: str) -> tuple[str, Profile]:
        """The detail route's search: registries in alphabetical order, first one holding the slug wins."""
        for slug, loaded in self.registries.items():
            profile = loaded.registry["profiles"].get(profile_slug)
            if profile is not None:
                return slug, profile
        self._not_found_unless_quarantined()

    def _not_found_unless_quarantined(self) -> NoReturn:
        """A search that failed may have needed a quarantined registry: say so (500) rather than a false 404."""
        for bad in self.quarantined.values():
            raise RegistryQuarantined(bad.slug, bad.reason)
        raise ProfileNotFound()

    def resolve_input(self, registry_slug: str, profile_slug: str) -> tuple[str, str]:
        """The chain's selection rules: both empty, profile only (precedence search), or an explicit registry."""
        if registry_slug:
            registry = self.registry(registry_slug)
            return registry_slug, profile_slug or default_profile_of(registry)
        if not profile_slug:
            return self.default_registry, default_profile_of(self.registry(self.default_registry))
        for slug in self.precedence:
            if slug in self.registries and profile_slug in self.registries[slug].registry["profiles"]:
                return slug, profile_slug
        self._not_found_unless_quarantined()


def default_profile_of(registry: Registry) -> str:
    """The registry's default profile, else a profile named `default`, else the reference's validation error."""
    if registry.get("default_profile_slug"):
        return str(registry["default_profile_slug"])
    if "default" in registry["profiles"]:
        return "default"
    raise ValidationError("profile.slug", "profile slug is required and registry has no default")


class RegistryChain:
    """The ordered sources; `view()` is cheap when nothing changed (one data_version check per SQLite source)."""

    def __init__(self, sources: Sequence[RegistrySource]) -> None:
        if not sources:
            raise StartupError("validation error (profile-settings.profile-registries): must not be empty")
        self.sources = list(sources)
        self._lock = threading.Lock()
        self._view: ChainView | None = None
        view = self.view()
        seen: dict[str, str] = {}
        for source in self.sources:
            snap = source.snapshot()
            for slug in [*snap.registries, *snap.quarantined]:
                if slug in seen:
                    raise StartupError(f'duplicate registry slug "{slug}" across profile registry sources')
                seen[slug] = source.label
        self.startup_view = view

    def view(self) -> ChainView:
        """The current view, rebuilt only when a source's snapshot generation moved."""
        snapshots = [source.snapshot() for source in self.sources]
        key = tuple(s.generation for s in snapshots)
        current = self._view
        if current is not None and current.key == key:
            return current
        with self._lock:
            if self._view is not None and self._view.key == key:
                return self._view
            self._view = self._build(snapshots, key)
            return self._view

    def _build(self, snapshots: list, key: tuple[int, ...]) -> ChainView:
        registries: dict[str, LoadedRegistry] = {}
        quarantined: dict[str, QuarantinedRow] = {}
        source_of: dict[str, str] = {}
        for source, snap in zip(self.sources, snapshots, strict=True):
            for slug, loaded in snap.registries.items():
                if slug in source_of:
                    # A duplicate that appeared after start (an external write): keep serving the first one.
                    reason = f'duplicate registry slug "{slug}" across profile registry sources ({source.label})'
                    quarantined.setdefault(f"{slug}@{source.label}", QuarantinedRow(slug, reason, 0, 0))
                    continue
                registries[slug] = loaded
                source_of[slug] = source.label
            for slug, bad in snap.quarantined.items():
                if slug not in source_of:
                    quarantined[slug] = bad
                    source_of[slug] = source.label
        precedence: list[str] = []
        default_registry = ""
        for snap in reversed(snapshots):
            slugs = sorted({*snap.registries, *snap.quarantined})
            precedence.extend(s for s in slugs if s not in precedence)
            if not default_registry and slugs:
                default_registry = slugs[0]
        return ChainView(
            registries=dict(sorted(registries.items())),
            quarantined=dict(sorted(quarantined.items())),
            precedence=tuple(precedence),
            default_registry=default_registry or DEFAULT_REGISTRY_SLUG,
            source_of=source_of,
            key=key,
        )

    def close(self) -> None:
        """Close every source."""
        for source in self.sources:
            source.close()
