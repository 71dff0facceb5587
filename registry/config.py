"""Every setting of the app with its default; `create_app(config)` overrides any of them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.domain.yaml_json import YAMLLimits

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
    # Admin tokens (registry.web.auth.AdminToken list); when None they are read from ADMIN_TOKEN_FILE and the
    # PROFILE_REGISTRY_TOKEN environment variable. Never taken from the command line.
    "ADMIN_TOKENS": None,
    "ADMIN_TOKEN_FILE": None,
    # `serve --writable`: the admin write routes work (with a token); otherwise they answer 403 store is read-only.
    "WRITABLE": False,
    # Signs the dashboard's session cookie; None means a random key per process (logins end at restart).
    "SECRET_KEY": None,
    # The dashboard's session cookie is Secure when the request came over HTTPS (directly, or as the trusted proxy
    # says: WAITRESS_TRUSTED_PROXY); True marks it Secure always (`serve --session-cookie-secure`).
    "SESSION_COOKIE_SECURE": False,
    # The reverse proxy whose X-Forwarded-* headers waitress believes (`serve --trusted-proxy`; an IP address, or
    # "*" for any peer), and which of them (`--trusted-proxy-headers`). None: every such header is dropped.
    "WAITRESS_TRUSTED_PROXY": None,
    "WAITRESS_TRUSTED_PROXY_HEADERS": ["x-forwarded-proto"],
    # The dashboard's session cookie is not sent with cross-site POSTs (CSRF tokens are checked as well).
    "SESSION_COOKIE_SAMESITE": "Lax",
    # Folder of backup snapshots; None means the SQLite database's own folder (the runbook puts them beside it). A
    # PostgreSQL source has no folder of its own: its backups, restores and the dashboard's buttons need this set.
    "BACKUP_DIR": None,
    # Retention, applied after each backup (CLI and API): keep the newest 10 snapshots made by this tool and
    # none older than 30 days; the newest verified snapshot is never deleted. 0 or None switches a rule off.
    "BACKUP_KEEP": 10,
    "BACKUP_MAX_AGE_DAYS": 30,
    # Name of the current-profile cookie (the reference's default).
    "CHAT_PROFILE_COOKIE": "chat_profile",
    # Pause between the mock_parity engine's events, in ms (the reference streams with 5 ms).
    "CHAT_MOCK_CHUNK_DELAY_MS": 5,
    # Chat (no login needed, so every dimension is bounded; registry/chat/chat_sessions.py). A prompt's size in UTF-8
    # bytes (413 beyond), messages one session may hold (429 beyond: start a new session), sessions kept (the least
    # recently used idle ones are dropped beyond the count or the total size of their text; idle ones are dropped
    # after CHAT_SESSION_IDLE_SECONDS), and runs: a pool of CHAT_MAX_CONCURRENT_RUNS threads with at most
    # CHAT_MAX_QUEUED_RUNS waiting; beyond, or when the kept text cannot fit, 503 with Retry-After.
    "CHAT_MAX_PROMPT_BYTES": 64 * 1024,
    "CHAT_MAX_MESSAGES_PER_SESSION": 100,
    "CHAT_MAX_SESSIONS": 1000,
    "CHAT_SESSION_IDLE_SECONDS": 3600,
    "CHAT_MAX_SESSIONS_BYTES": 64 * 1024 * 1024,
    "CHAT_MAX_CONCURRENT_RUNS": 4,
    "CHAT_MAX_QUEUED_RUNS": 64,
    # waitress (`serve` flags of the same name in lower case with dashes; README, "Security and limits").
    # Open connections served at once; beyond it waitress stops accepting until one closes. Idle and trickling
    # clients each hold one, so it is well above what a registry's clients need (waitress's own default is 100).
    "WAITRESS_CONNECTION_LIMIT": 500,
    # Seconds a connection may stay silent (no byte received, nothing to send) before it is closed, and how often
    # that is checked (waitress's defaults: 120 and 30, which let idle clients hold their slot for 150 s).
    "WAITRESS_CHANNEL_TIMEOUT": 30,
    "WAITRESS_CLEANUP_INTERVAL": 10,
    # Connections the kernel queues before waitress accepts them.
    "WAITRESS_BACKLOG": 1024,
    # Largest request line plus headers, in bytes (waitress's default is 256 KiB); larger is 431.
    "WAITRESS_MAX_REQUEST_HEADER_SIZE": 64 * 1024,
    # Seconds a client has to send a request's line and headers from its first byte, then its body once the head
    # is in; past either, 408 and the connection closes (registry/cli/request_deadline.py). Unlike
    # channel_timeout, activity does not extend them: one header line every 2 s no longer holds a connection.
    "REQUEST_HEAD_TIMEOUT": 10,
    "REQUEST_BODY_TIMEOUT": 60,
    # Environment variables a profile may name in inference_settings.api.api_key_env (shell-style patterns); the
    # service's own PROFILE_REGISTRY_* variables never, whatever this says (registry/domain/api_key_env.py).
    "API_KEY_ENV_ALLOWED": ["*_API_KEY"],
    # YAML registries (sources, `import`): deepest nesting, and the largest JSON size once every alias is expanded
    # (an anchor used ten times inside one used ten times... multiplies). Over the size a YAML source's registry
    # is quarantined with the reason; any other refusal is one line with the position (registry/domain/yaml_json.py).
    "YAML_MAX_DEPTH": 100,
    "REGISTRY_MAX_EXPANDED_BYTES": 8 * 1024 * 1024,
    # Largest payload_json of a database row, in UTF-8 bytes: a larger row (the sqlite3 shell can store any size)
    # is quarantined with the reason before it is parsed, and a write whose row would be larger is 413
    # (registry/storage/row_loading.py). Snapshot checks and `inspect` use the default.
    "REGISTRY_MAX_ROW_BYTES": 16 * 1024 * 1024,
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
    # The OpenAPI document's description; it states the body limit (MAX_CONTENT_LENGTH) so clients can find it.
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Request bodies larger than 1 MiB (MAX_CONTENT_LENGTH, 1048576 bytes) are refused with "
            "413 and a JSON error body."
        }
    },
}


def yaml_limits_of(config: Mapping[str, Any]) -> YAMLLimits:
    """The YAML loader's bounds from a configuration (the app's, or DEFAULTS for commands)."""
    return YAMLLimits(int(config["YAML_MAX_DEPTH"]), int(config["REGISTRY_MAX_EXPANDED_BYTES"]))
