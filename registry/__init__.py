"""The app factory: `create_app(config)` wires the registry service, the API and the dashboard."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask

from registry.config import DEFAULTS, STATIC_DIR, TEMPLATES_DIR, yaml_limits_of
from registry.service.registry_service import RegistryService
from registry.web.auth import load_tokens
from registry.web.json_provider import GoJSONProvider
from registry.web.signed_cookie import LazySecureCookieSessionInterface


def create_app(config: dict[str, Any] | None = None, service: RegistryService | None = None) -> Flask:
    """Build the app. Opening the sources may raise StartupError; `service` lets a command pass one it opened."""
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES_DIR),
        static_folder=str(STATIC_DIR),
    )
    app.session_interface = LazySecureCookieSessionInterface()
    app.json = GoJSONProvider(app)
    app.config.update(DEFAULTS)
    if config:
        app.config.update(config)
    if service is None:
        service = RegistryService.from_settings(
            list(app.config["PROFILE_REGISTRIES"]),
            app.config["DEFAULT_DATABASE"],
            app.config["SEED_REGISTRY_FILE"],
            yaml_limits_of(app.config),
            int(app.config["REGISTRY_MAX_ROW_BYTES"]),
        )
    if app.config["ADMIN_TOKENS"] is None:
        app.config["ADMIN_TOKENS"] = load_tokens(app.config["ADMIN_TOKEN_FILE"])
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    from registry.api import cached_reads, register_api
    from registry.api.chat import chat_limits
    from registry.chat.chat_sessions import ChatSessionStore
    from registry.dashboard import dashboard_parts, register_dashboard
    from registry.domain.api_key_env import ApiKeyEnvPolicy
    from registry.service.writes import RegistryWriter
    from registry.web import metrics
    from registry.web.app_state import STATE_KEY, AppState

    state = AppState(
        service=service,
        writer=RegistryWriter(service, ApiKeyEnvPolicy(tuple(app.config["API_KEY_ENV_ALLOWED"]))),
        chat_sessions=ChatSessionStore(chat_limits(app.config)),
        parts=dashboard_parts(),
    )
    app.extensions[STATE_KEY] = state
    register_api(app)
    register_dashboard(app)
    # WSGI wrappers, innermost first: the cached profile reads in front of Flask, then the metrics around both, so
    # its clock starts before anything answers and a fast answer is counted too.
    cached_reads.install(app, service.chain)
    state.metrics = metrics.install(app, service)
    return app
