"""Every setting of the app with its default; `create_app(config)` overrides any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent


def asset_dir(name: str, marker: str) -> Path:
    """A top-level folder (templates, static, data) in a checkout or editable install, else its wheel copy.

    The wheel maps these folders into the package (pyproject.toml, package-dir); the marker file guards against
    an unrelated top-level folder of the same name in site-packages.
    """
    checkout = PACKAGE_DIR.parent / name
    return checkout if (checkout / marker).exists() else PACKAGE_DIR / name


TEMPLATES_DIR = asset_dir("templates", "error.html")
STATIC_DIR = asset_dir("static", "swagger-ui/swagger-ui.css")
DATA_DIR = asset_dir("data", "example-registry.yaml")

DEFAULTS: dict[str, Any] = {
    # `--profile-registries` entries; empty means DEFAULT_DATABASE (seeded on first start).
    "PROFILE_REGISTRIES": [],
    # The database used when no source is given, relative to the working directory as in the runbook.
    "DEFAULT_DATABASE": "data/profiles.db",
    # The example registry copied into DEFAULT_DATABASE when that file is created.
    "SEED_REGISTRY_FILE": str(DATA_DIR / "example-registry.yaml"),
    # Admin tokens (registry.auth.AdminToken list); when None they are read from ADMIN_TOKEN_FILE and the
    # PROFILE_REGISTRY_TOKEN environment variable. Never taken from the command line.
    "ADMIN_TOKENS": None,
    "ADMIN_TOKEN_FILE": None,
    # Signs the dashboard's session cookie; None means a random key per process (logins end at restart).
    "SECRET_KEY": None,
    # Folder of backup snapshots; None means the database's own folder (the runbook puts them beside it).
    "BACKUP_DIR": None,
    # Name of the current-profile cookie (the reference's default).
    "CHAT_PROFILE_COOKIE": "chat_profile",
    # Largest request body accepted, in bytes; larger bodies get 413.
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # flask-smorest / OpenAPI.
    "API_TITLE": "profile-registry",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "api/openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Swagger UI from the local static folder (swagger-ui-dist), never a CDN; trailing slash required.
    "OPENAPI_SWAGGER_UI_URL": "/static/swagger-ui/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
}
