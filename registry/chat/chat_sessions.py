"""In-memory chat sessions: timeline entities in the reference's snapshot shape (contract §4.7), runs on a pool.

A session exists as soon as a message is posted to its id (the reference creates session streams lazily).
Nothing here needs a login, so every resource a client can make the store hold is bounded (ChatLimits, the
CHAT_* settings): the prompt's size, the messages of one session, the sessions kept (idle ones are dropped after
CHAT_SESSION_IDLE_SECONDS, the least recently used beyond CHAT_MAX_SESSIONS or CHAT_MAX_SESSIONS_BYTES), and
the runs: a fixed pool of CHAT_MAX_CONCURRENT_RUNS threads with at most CHAT_MAX_QUEUED_RUNS waiting, beyond
which a message is refused (503 with Retry-After) instead of starting yet another thread. A session's messages
run one after the other, in order, so its history stays ordered. Every read or write of session state happens
under one store lock.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
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


@dataclass(frozen=True)
class ChatLimits:
    """What chat clients may make the process hold (settings CHAT_*; README, "Security and limits")."""

    max_prompt_bytes: int = 64 * 1024
    max_messages_per_session: int = 100
    max_sessions: int = 1000
    session_idle_seconds: float = 3600.0
    max_sessions_bytes: int = 64 * 1024 * 1024
    max_concurrent_runs: int = 4
    max_queued_runs: int = 64


# Seconds a refused client is told to wait: about how long a queued run takes to start on a busy pool.
RETRY_AFTER_SECONDS = 2


class ChatRefused(Exception):
    """A message the limits refuse: HTTP status, the reason, and Retry-After seconds when waiting helps."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ChatSession:
    """A session's entities, completed history, and what it costs (messages, bytes of text held)."""

    id: str
    entities: dict[str, Entity] = field(default_factory=dict)
    ordinal: int = 0
    history: list[dict[str, str]] = field(default_factory=list)
    active_runs: int = 0  # queued or running
    messages: int = 0
    text_bytes: int = 0
    last_used: float = field(default_factory=time.monotonic)
    queue: deque[tuple[str, str, RunPlan]] = field(default_factory=deque)
    draining: bool = False  # a pool thread is running this session's queue


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


class ChatSessionSink:
    """The EventSink of one run: each event updates the session's entities under the store lock."""

    def __init__(self, store: ChatSessionStore, session: ChatSession, message_id: str) -> None:
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
            self.store.account(self.session, len(self.reasoning_text.encode()) + len((final_text or "").encode()))
            if self.reasoning_text:
                self.store.record(self.session, CHAT_MESSAGE, f"{self.message_id}-thinking", self._thinking("finished"))
            if error is None:
                self.answer_text = final_text or ""
                self.store.record(self.session, CHAT_MESSAGE, self.message_id, self._answer("finished"))
            else:
                self.store.record(self.session, CHAT_MESSAGE, self.message_id, self._answer("error", error=error))


class ChatSessionStore:
    """Every session of this process, least recently used first, within ChatLimits; runs on a bounded pool."""

    def __init__(self, limits: ChatLimits | None = None) -> None:
        self.limits = limits or ChatLimits()
        self.lock = threading.Lock()
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self._message_ids = itertools.count(1)
        self._bytes = 0  # text held by every kept session
        self._pending = 0  # runs queued or running
        self._idle = threading.Condition(self.lock)
        # Sessions with queued messages, waiting for a worker; at most max_concurrent_runs workers exist, each
        # started on demand and ended when nothing is left to run (an idle store holds no thread).
        self._ready: deque[ChatSession] = deque()
        self._workers = 0

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

    def account(self, session: ChatSession, size: int) -> None:
        """Count `size` more bytes of text held by `session` (if it is still kept); caller holds `lock`."""
        session.text_bytes += size
        if self._sessions.get(session.id) is session:
            self._bytes += size

    def _drop(self, session_id: str) -> None:
        session = self._sessions.pop(session_id)
        self._bytes -= session.text_bytes

    def _make_room(self, keep: str, new_bytes: int) -> None:
        """Drop sessions idle too long, then the least recently used idle ones while over a limit; caller holds lock."""
        limits = self.limits
        deadline = time.monotonic() - limits.session_idle_seconds
        for session_id, session in list(self._sessions.items()):
            if session.last_used > deadline:
                break  # least recently used first: the rest were used later
            if session.active_runs == 0 and session_id != keep:
                self._drop(session_id)
        new_session = 0 if keep in self._sessions else 1
        for session_id, session in list(self._sessions.items()):
            over_count = len(self._sessions) + new_session > limits.max_sessions
            over_bytes = self._bytes + new_bytes > limits.max_sessions_bytes
            if not (over_count or over_bytes):
                return
            if session.active_runs == 0 and session_id != keep:
                self._drop(session_id)
        if self._bytes + new_bytes > limits.max_sessions_bytes:
            raise ChatRefused(
                503,
                f"chat sessions hold their memory limit ({limits.max_sessions_bytes} bytes, CHAT_MAX_SESSIONS_BYTES) "
                "in runs that are not finished; retry later",
                RETRY_AFTER_SECONDS,
            )

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

    def check_prompt(self, prompt: str) -> int:
        """The prompt's size in bytes; ChatRefused (413) past CHAT_MAX_PROMPT_BYTES."""
        size = len(prompt.encode())
        if size > self.limits.max_prompt_bytes:
            raise ChatRefused(
                413,
                f"prompt is {size} bytes, more than the {self.limits.max_prompt_bytes} allowed (CHAT_MAX_PROMPT_BYTES)",
            )
        return size

    def submit(self, session_id: str, prompt: str, plan: RunPlan) -> None:
        """Record the user's message and queue its run; ChatRefused when a limit says no (nothing is recorded)."""
        size = self.check_prompt(prompt)
        limits = self.limits
        with self.lock:
            if self._pending >= limits.max_concurrent_runs + limits.max_queued_runs:
                raise ChatRefused(
                    503,
                    f"{self._pending} chat runs are running or queued, the most allowed "
                    "(CHAT_MAX_CONCURRENT_RUNS + CHAT_MAX_QUEUED_RUNS); retry later",
                    RETRY_AFTER_SECONDS,
                )
            session = self._sessions.get(session_id)
            if session is not None and session.messages >= limits.max_messages_per_session:
                raise ChatRefused(
                    429,
                    f"session has {session.messages} messages, the most allowed (CHAT_MAX_MESSAGES_PER_SESSION); "
                    "start a new session",
                )
            self._make_room(session_id, size)
            if session is None:
                session = self._sessions[session_id] = ChatSession(session_id)
            self._sessions.move_to_end(session_id)
            session.last_used = time.monotonic()
            session.messages += 1
            self.account(session, size)
            message_id = f"msg-{next(self._message_ids)}"
            self.record(
                session,
                CHAT_MESSAGE,
                f"{message_id}-user",
                {"messageId": f"{message_id}-user", "role": "user", "content": prompt},
            )
            session.queue.append((message_id, prompt, plan))
            session.active_runs += 1
            self._pending += 1
            if not session.draining:
                session.draining = True
                self._ready.append(session)
            spawn = self._workers < limits.max_concurrent_runs and bool(self._ready)
            if spawn:
                self._workers += 1
        if spawn:
            try:
                threading.Thread(target=self._work, name="chat-run", daemon=True).start()
            except RuntimeError:  # no thread could be started: the message stays queued for a running worker
                with self.lock:
                    self._workers -= 1
                raise

    def _work(self) -> None:
        """One worker: drain ready sessions until none is left, then end."""
        while True:
            with self.lock:
                if not self._ready:
                    self._workers -= 1
                    return
                session = self._ready.popleft()
            self._drain(session)

    def _drain(self, session: ChatSession) -> None:
        """Run a session's queued messages in order; a later submit makes the session ready again once it is empty."""
        while True:
            with self.lock:
                if not session.queue:
                    session.draining = False
                    return
                message_id, prompt, plan = session.queue.popleft()
            try:
                self._run(session, message_id, prompt, plan)
            finally:
                with self.lock:
                    session.active_runs -= 1
                    session.last_used = time.monotonic()
                    self._pending -= 1
                    self._idle.notify_all()

    def _run(self, session: ChatSession, message_id: str, prompt: str, plan: RunPlan) -> None:
        sink = ChatSessionSink(self, session, message_id)
        with self.lock:
            history = list(session.history)
        messages = [
            {"role": "system", "content": plan.system_prompt},
            *history,
            {"role": "user", "content": prompt},
        ]
        log.info("chat run %s session=%s profile=%s runtime=%s", message_id, session.id, plan.profile, plan.runtime_key)
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
                session.history += [{"role": "user", "content": prompt}, {"role": "assistant", "content": final}]

    def join(self, timeout: float = 5.0) -> None:
        """Wait until no run is queued or running (tests and shutdown)."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, timeout)
