"""In-memory chat sessions: timeline entities in the reference's snapshot shape (contract §4.7), runs in threads.

A session exists as soon as a message is posted to its id (the reference creates session streams lazily).
Each message starts a background thread that runs the engine; runs of one session take turns on the session's
run lock, so history stays ordered. Every read or write of session state happens under one store lock.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from registry.chat.engines import Engine, EngineError

log = logging.getLogger(__name__)

CHAT_MESSAGE = "ChatMessage"
TOOL_CALL = "ChatToolCall"
TOOL_RESULT = "ChatToolResult"
AGENT_MODE = "AgentModeSwitch"


@dataclass
class Entity:
    """One timeline entity; ordinals count the session's events."""

    kind: str
    id: str
    created_ordinal: int
    last_event_ordinal: int
    payload: dict[str, Any]
    tombstone: bool = False

    def document(self) -> dict[str, Any]:
        """The snapshot form (Go's field names; createdAt mirrors the created ordinal as the reference does)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "createdOrdinal": str(self.created_ordinal),
            "lastEventOrdinal": str(self.last_event_ordinal),
            "tombstone": self.tombstone,
            "payload": self.payload,
            "createdAt": self.created_ordinal,
        }


@dataclass(frozen=True)
class RunPlan:
    """What one message runs with: the engine and the composed runtime's identity."""

    engine: Engine
    system_prompt: str
    runtime_key: str
    fingerprint: str
    profile: str = ""


@dataclass
class ChatSession:
    """A session's entities and completed history."""

    id: str
    entities: dict[str, Entity] = field(default_factory=dict)
    ordinal: int = 0
    history: list[dict[str, str]] = field(default_factory=list)
    active_runs: int = 0
    run_lock: threading.Lock = field(default_factory=threading.Lock)


def snapshot_status(entities: list[Entity]) -> str:
    """`finished`/`error` from the latest assistant message, `streaming` while a turn is open, else `idle`."""
    saw_user = False
    other_status = ""
    for entity in reversed(entities):
        role = entity.payload.get("role")
        status = entity.payload.get("status") or ""
        if role == "assistant" and status:
            return status
        if role == "user":
            saw_user = True
        elif status == "streaming":
            return status
        elif status and not other_status:
            other_status = status
    if saw_user:
        return "streaming"
    return other_status or "idle"


class SessionSink:
    """The EventSink of one run: each event updates the session's entities under the store lock."""

    def __init__(self, store: SessionStore, session: ChatSession, message_id: str) -> None:
        self.store = store
        self.session = session
        self.message_id = message_id
        self.reasoning_text = ""
        self.answer_text = ""

    def _put(self, kind: str, entity_id: str, payload: dict[str, Any]) -> None:
        with self.store.lock:
            self.store.record(self.session, kind, entity_id, payload)

    def reasoning(self, delta: str) -> None:
        """Thinking text, accumulated in one entity per turn."""
        self.reasoning_text += delta
        self._put(CHAT_MESSAGE, f"{self.message_id}-thinking", self._thinking("streaming"))

    def _thinking(self, status: str) -> dict[str, Any]:
        return {
            "messageId": f"{self.message_id}-thinking",
            "role": "thinking",
            "text": self.reasoning_text,
            "status": status,
        }

    def tool_call(self, call_id: str, name: str, arguments: dict[str, Any]) -> None:
        """A backend tool call, open until its result arrives."""
        payload = {"toolCallId": call_id, "name": name, "input": arguments, "status": "running"}
        self._put(TOOL_CALL, f"{self.message_id}-{call_id}", payload)

    def tool_result(self, call_id: str, result: Any) -> None:
        """A tool result; the matching call is marked finished."""
        with self.store.lock:
            call = self.session.entities.get(f"{self.message_id}-{call_id}")
            if call is not None:
                self.store.record(self.session, TOOL_CALL, call.id, call.payload | {"status": "finished"})
            self.store.record(
                self.session,
                TOOL_RESULT,
                f"{self.message_id}-{call_id}-result",
                {"toolCallId": call_id, "result": result},
            )

    def agent_mode(self, previous: str, mode: str) -> None:
        """An agent-mode switch (the reference's special event)."""
        self._put(AGENT_MODE, f"{self.message_id}-mode", {"from": previous, "to": mode})

    def text(self, delta: str) -> None:
        """Answer text, accumulated in the assistant message."""
        self.answer_text += delta
        self._put(CHAT_MESSAGE, self.message_id, self._answer("streaming"))

    def _answer(self, status: str, **extra: Any) -> dict[str, Any]:
        return {"messageId": self.message_id, "role": "assistant", "text": self.answer_text, "status": status} | extra

    def close(self, final_text: str | None, error: str | None = None) -> None:
        """End the turn: the assistant message finished (or in error) and the thinking closed."""
        with self.store.lock:
            if self.reasoning_text:
                self.store.record(self.session, CHAT_MESSAGE, f"{self.message_id}-thinking", self._thinking("finished"))
            if error is None:
                self.answer_text = final_text or ""
                self.store.record(self.session, CHAT_MESSAGE, self.message_id, self._answer("finished"))
            else:
                self.store.record(self.session, CHAT_MESSAGE, self.message_id, self._answer("error", error=error))


class SessionStore:
    """Every session of this process, least recently used first; idle ones beyond `max_sessions` are dropped."""

    def __init__(self, max_sessions: int = 1000) -> None:
        self.lock = threading.Lock()
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self._message_ids = itertools.count(1)
        self._threads: set[threading.Thread] = set()

    @staticmethod
    def new_id() -> str:
        """A fresh session id (UUID v4, as the reference's)."""
        return str(uuid.uuid4())

    def record(self, session: ChatSession, kind: str, entity_id: str, payload: dict[str, Any]) -> None:
        """Create or update one entity; caller holds `lock`."""
        session.ordinal += 1
        entity = session.entities.get(entity_id)
        if entity is None:
            session.entities[entity_id] = Entity(kind, entity_id, session.ordinal, session.ordinal, payload)
        else:
            entity.payload = payload
            entity.last_event_ordinal = session.ordinal

    def _session(self, session_id: str) -> ChatSession:
        session = self._sessions.get(session_id)
        if session is None:
            session = ChatSession(session_id)
            self._sessions[session_id] = session
            self._evict()
        self._sessions.move_to_end(session_id)
        return session

    def _evict(self) -> None:
        for old_id in list(self._sessions):
            if len(self._sessions) <= self.max_sessions:
                return
            if self._sessions[old_id].active_runs == 0:
                del self._sessions[old_id]

    def snapshot(self, session_id: str) -> dict[str, Any]:
        """The reference's snapshot body; an unknown id is an empty, idle session (the reference's answer)."""
        with self.lock:
            session = self._sessions.get(session_id)
            entities = list(session.entities.values()) if session else []
            return {
                "sessionId": session_id,
                "snapshotOrdinal": str(session.ordinal if session else 0),
                "status": snapshot_status(entities),
                "entities": [entity.document() for entity in entities],
            }

    def submit(self, session_id: str, prompt: str, plan: RunPlan) -> None:
        """Record the user's message and start the run in a background thread."""
        with self.lock:
            session = self._session(session_id)
            message_id = f"msg-{next(self._message_ids)}"
            self.record(
                session,
                CHAT_MESSAGE,
                f"{message_id}-user",
                {"messageId": f"{message_id}-user", "role": "user", "content": prompt},
            )
            session.active_runs += 1
        thread = threading.Thread(
            target=self._run, args=(session, message_id, prompt, plan), name=f"chat-{session_id[:8]}", daemon=True
        )
        with self.lock:
            self._threads.add(thread)
        thread.start()

    def _run(self, session: ChatSession, message_id: str, prompt: str, plan: RunPlan) -> None:
        sink = SessionSink(self, session, message_id)
        try:
            with session.run_lock:
                with self.lock:
                    history = list(session.history)
                messages = [
                    {"role": "system", "content": plan.system_prompt},
                    *history,
                    {"role": "user", "content": prompt},
                ]
                log.info(
                    "chat run %s session=%s profile=%s runtime=%s",
                    message_id,
                    session.id,
                    plan.profile,
                    plan.runtime_key,
                )
                try:
                    final = plan.engine.run(messages, sink)
                except EngineError as exc:
                    log.warning("chat run %s session=%s failed: %s", message_id, session.id, exc)
                    sink.close(None, str(exc))
                except Exception:  # an engine bug must end the turn, not leave it streaming for ever
                    log.exception("chat run %s session=%s crashed", message_id, session.id)
                    sink.close(None, "chat run failed: internal error")
                else:
                    sink.close(final)
                    with self.lock:
                        session.history += [
                            {"role": "user", "content": prompt},
                            {"role": "assistant", "content": final},
                        ]
        finally:
            with self.lock:
                session.active_runs -= 1
                self._threads.discard(threading.current_thread())

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the running threads (tests and shutdown)."""
        with self.lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
