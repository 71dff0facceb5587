"""Which engine runs a composed runtime: today only the OpenAI-compatible one (mock_parity is chosen by slug)."""

from __future__ import annotations

from typing import Any

from registry.chat.engines.openai_compat import OpenAICompatibleEngine, config_from_settings


def build_engine(settings: dict[str, Any]) -> OpenAICompatibleEngine:
    """The engine the merged settings describe; EngineConfigError when they describe none (`engine init failed`)."""
    engine = OpenAICompatibleEngine(config_from_settings(settings))
    engine.check_key()
    return engine
