"""Which engine runs a composed runtime: today only the OpenAI-compatible one (mock_parity is chosen by slug)."""

from __future__ import annotations

from typing import Any

from registry.chat.engines.openai_compat import EngineConfigError, OpenAICompatibleEngine, config_from_settings
from registry.domain.api_key_env import ApiKeyEnvPolicy


def build_engine(settings: dict[str, Any], key_policy: ApiKeyEnvPolicy) -> OpenAICompatibleEngine:
    """The engine the merged settings describe; EngineConfigError when they describe none (`engine init failed`).

    A key variable the policy forbids is refused here, before anything reads the environment: rows written
    outside the API (YAML sources, the sqlite3 shell, older versions) are held to the same rule as writes.
    """
    config = config_from_settings(settings)
    refusal = key_policy.refusal(config.api_key_env) if config.api_key_env else None
    if refusal:
        raise EngineConfigError(refusal)
    engine = OpenAICompatibleEngine(config)
    engine.check_key()
    return engine
