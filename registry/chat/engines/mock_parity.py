"""The reference's `mock_parity` engine (contract §4.9): a fixed event stream, no model and no API key."""

from __future__ import annotations

import time
from typing import Any

from registry.chat.engines import EventSink
from registry.domain.documents import MOCK_PARITY_SLUG

# The reference names the mock runtime after its profile.
RUNTIME_KEY = MOCK_PARITY_SLUG
FINGERPRINT = f"{MOCK_PARITY_SLUG}:parity_all"
REASONING = (
    "Inspecting deterministic inputs. ",
    "Planning tool and widget coverage. ",
    "Ready to stream the mock answer.",
)
TOOL_CALL_ID = "mock-backend-tool-1"
TOOL_NAME = "mock.search"
TOOL_INPUT: dict[str, Any] = {"query": "mock parity", "limit": 3}
MODE_FROM, MODE_TO = "financial_analyst", "mock_reviewer"
FINAL_TEXT = (
    "Mock parity run complete. This deterministic profile emitted thinking, backend tool, special event, "
    "and chat text streams."
)


class MockParityEngine:
    """Emits reasoning, a backend tool call, an agent-mode switch and the fixed answer, `delay` seconds apart."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay

    def _pause(self) -> None:
        if self.delay > 0:
            time.sleep(self.delay)  # the reference streams with a 5 ms chunk delay; pacing, not synchronisation

    def run(self, messages: list[dict[str, str]], sink: EventSink) -> str:
        """Stream the fixed events; the prompt does not change them (that is the point of the profile)."""
        for delta in REASONING:
            sink.reasoning(delta)
            self._pause()
        sink.tool_call(TOOL_CALL_ID, TOOL_NAME, dict(TOOL_INPUT))
        self._pause()
        # The tool result is ours (the contract fixes only the call): three deterministic hits for the query.
        sink.tool_result(TOOL_CALL_ID, {"results": [f"mock parity result {i}" for i in range(1, 4)]})
        self._pause()
        sink.agent_mode(MODE_FROM, MODE_TO)
        self._pause()
        words = FINAL_TEXT.split(" ")
        for i, word in enumerate(words):
            sink.text(word if i == len(words) - 1 else word + " ")
            self._pause()
        return FINAL_TEXT
