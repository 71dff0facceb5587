"""The JSON API: one flask-smorest blueprint per resource, registered by `register_api`."""

from __future__ import annotations

from flask import Flask

from registry.api import (
    backups,
    catalogs,
    chat,
    current_profile,
    errors,
    health,
    profile_writes,
    profiles,
    registries,
    resolved,
)
from registry.api.errors import Api

BLUEPRINT_MODULES = (profiles, current_profile, catalogs, health, chat, resolved, backups, profile_writes, registries)


def register_api(app: Flask) -> Api:
    """Create the smorest Api, declare the bearer scheme the write and backup routes name, register every
    blueprint and the error handlers."""
    api = Api(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for module in BLUEPRINT_MODULES:
        api.register_blueprint(module.blp)
    errors.install(app)
    return api
