"""Which environment variables a profile may name in `inference_settings.api.api_key_env`.

The key is read from the server's environment and sent as `Authorization: Bearer <value>` to the profile's
`base_url`, which the profile also chooses. Anyone who can write a profile (or hand the service a YAML source)
could otherwise point it at their own host and name any variable: the admin token, a cloud credential. So only
names matching the operator's allow-list (setting API_KEY_ENV_ALLOWED, shell-style patterns, default
`*_API_KEY`) are read, and the service's own variables (`PROFILE_REGISTRY_*`, which hold its admin tokens) never
are, whatever the list says.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

DEFAULT_ALLOWED = ("*_API_KEY",)
# The service's own variables (PROFILE_REGISTRY_TOKEN holds the admin tokens): never readable by a profile.
RESERVED_PREFIX = "PROFILE_REGISTRY_"


@dataclass(frozen=True)
class ApiKeyEnvPolicy:
    """The allow-list of variable names a profile may read its API key from."""

    allowed: tuple[str, ...] = DEFAULT_ALLOWED

    def refusal(self, name: str) -> str | None:
        """Why `name` may not be read (naming the rule), or None when it may."""
        if name.upper().startswith(RESERVED_PREFIX):
            return (
                f"api.api_key_env {name!r} is refused: "
                f"the service's own {RESERVED_PREFIX}* variables are never readable"
            )
        if not any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed):
            patterns = ", ".join(self.allowed) or "(none)"
            return f"api.api_key_env {name!r} is refused: it must match API_KEY_ENV_ALLOWED ({patterns})"
        return None


DEFAULT_POLICY = ApiKeyEnvPolicy()
