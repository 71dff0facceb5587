"""Helpers the API views share: the service on the app, and the `?registry=` argument."""

from __future__ import annotations

from flask import current_app, request

from registry.service.chain import ChainView
from registry.domain.errors import SlugError
from registry.domain.model import parse_registry_slug
from registry.service.registry_service import RegistryService

EXTENSION_KEY = "profile_registry"


class BadArgument(Exception):
    """A route-local 400 whose text the reference fixes (`invalid registry`, `bad request`, ...)."""


def service() -> RegistryService:
    """The RegistryService created by the app factory."""
    return current_app.extensions[EXTENSION_KEY]


def current_view() -> ChainView:
    """The chain view for this request (fresh if the database changed)."""
    return service().chain.view()


def registry_arg(raw: str | None) -> str:
    """A registry slug from a query or body field: blank is "", invalid is 400 `invalid registry`."""
    if raw is None or not raw.strip():
        return ""
    try:
        return parse_registry_slug(raw)
    except SlugError as exc:
        raise BadArgument("invalid registry") from exc


def query_registry() -> str:
    """`?registry=` parsed as above."""
    return registry_arg(request.args.get("registry"))
