"""The JSON API: one flask-smorest blueprint per resource, registered by `register_api`."""

from __future__ import annotations

from flask import Flask

from registry.api import admin, backups, catalogs, chat, current_profile, errors, health, profiles, resolved
from registry.api.errors import Api


def register_api(app: Flask) -> Api:
    """Create the smorest Api, register every blueprint and the error handlers."""
    api = Api(app)
    for module in (profiles, current_profile, catalogs, health, chat, resolved, backups):
        api.register_blueprint(module.blp)
    admin.register(app, api)  # two blueprints (profile writes, /api/registries) and the bearer scheme
    errors.install(app)
    return api
