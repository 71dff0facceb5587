"""Chat engines: the deterministic `mock_parity` engine and an OpenAI-compatible chat-completions client.

An engine gets the chat messages (system prompt first) and an `EventSink`, reports what happens while it runs,
and returns the assistant's final text; any failure is an `EngineError` whose text is safe to show (no key).
"""

from __future__ import annotations

from typing import Any, Protocol


class EngineError(Exception):
    """A run failed; the message is kept in the session as the assistant's error."""


class EventSink(Protocol):
    """Where an engine reports a run's events; the session turns them into timeline entities."""

    def reasoning(self, delta: str) -> None: ...

    def tool_call(self, call_id: str, name: str, arguments: dict[str, Any]) -> None: ...

    def tool_result(self, call_id: str, result: Any) -> None: ...

    def agent_mode(self, previous: str, mode: str) -> None: ...

    def text(self, delta: str) -> None: ...


class Engine(Protocol):
    """Runs one chat turn."""

    def run(self, messages: list[dict[str, str]], sink: EventSink) -> str: ...
