"""Domain errors shared by the store, the resolver and the web layers (no Flask, no SQL)."""

from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error this package raises on purpose."""


class ValidationError(RegistryError):
    """A registry, profile or reference breaks a rule; text matches the reference's."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"validation error ({field}): {reason}" if field else f"validation error: {reason}")


class SlugError(RegistryError):
    """A registry or profile slug is empty or does not match the slug grammar."""


class ExtensionKeyError(RegistryError):
    """An extension key is not of the form namespace.feature@vN."""


class RegistryNotFound(RegistryError):
    """The named registry is not loaded."""

    def __init__(self, message: str = "registry not found") -> None:
        super().__init__(message)


class ProfileNotFound(RegistryError):
    """The named profile is not in the registry."""

    def __init__(self, message: str = "profile not found") -> None:
        super().__init__(message)


class RegistryQuarantined(RegistryError):
    """The registry's row could not be decoded or validated; it is kept out of service."""

    def __init__(self, slug: str, reason: str) -> None:
        self.slug = slug
        self.reason = reason
        super().__init__(f"registry {slug!r} is quarantined: {reason}")


class VersionConflict(RegistryError):
    """An expected_version did not match the stored one."""

    def __init__(self, resource: str, slug: str, expected: int, actual: int) -> None:
        self.resource = resource
        self.slug = slug
        self.expected = expected
        self.actual = actual
        super().__init__(f'{resource} "{slug}" version conflict: expected={expected} actual={actual}')


class ReadOnlyStore(RegistryError):
    """A write was attempted on a store that is not writable."""

    def __init__(self, message: str = "store is read-only") -> None:
        super().__init__(message)


class RowTooLarge(RegistryError):
    """A write whose row would exceed the store's REGISTRY_MAX_ROW_BYTES (the load would quarantine it); 413."""


class StoreUnavailable(RegistryError):
    """The store cannot take a write right now (its database server is unreachable or busy); 503 with the reason."""


class StartupError(RegistryError):
    """The service cannot start; the message is the one line shown to the operator."""
