"""The chat session routes (contract §4.7): create a session, post a message with an explicit profile, read it back.

Bodies, statuses and `{"error": ...}` texts are the reference's. A message selects its runtime from the body's
`profile` and `registry` only; `mock_parity` short-circuits to the deterministic engine without registry access.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flask
from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import Schema, fields

from registry.api.common import Blueprint, dumped, key_policy, service
from registry.api.errors import chat_error
from registry.api.schemas import Bool, ChatErrorSchema, Int, Obj, ResponseSchema, Str
from registry.chat.chat_sessions import ChatLimits, ChatRefused, ChatSessionStore, RunPlan
from registry.chat.engines.mock_parity import FINGERPRINT as MOCK_FINGERPRINT
from registry.chat.engines.mock_parity import RUNTIME_KEY as MOCK_RUNTIME_KEY
from registry.chat.engines.mock_parity import MockParityEngine
from registry.chat.engines.openai_compat import EngineConfigError
from registry.chat.engines.select import build_engine
from registry.domain import gojson
from registry.domain.documents import MOCK_PARITY_SLUG
from registry.domain.errors import RegistryError, SlugError
from registry.domain.model import parse_profile_slug, parse_registry_slug
from registry.domain.resolve import resolve_profile
from registry.domain.runtime_merge import DEFAULT_SYSTEM_PROMPT
from registry.domain.runtime_plan import CompositionError, chat_error_text, compose_runtime
from registry.web.app_state import app_state
from registry.web.request_json import BadJSON, parse_body

blp = Blueprint("chat", __name__, url_prefix="/api/chat/sessions", description="Chat sessions (profile-selected runs)")



class ChatError(Exception):
    """A chat-route failure answered as `{"error": message}` with the given status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CreateSessionSchema(Schema):
    profile = fields.String()
    registry = fields.String()
    application_profile = fields.String()


class CreateSessionResponseSchema(ResponseSchema):
    sessionId = Str(required=True)
    profile = Str()


class ChatAttachmentSchema(Schema):
    attachment_id = fields.String(required=True)


class SubmitMessageSchema(Schema):
    prompt = fields.String(required=True)
    attachments = fields.List(fields.Nested(ChatAttachmentSchema))
    profile = fields.String()
    registry = fields.String()
    idempotencyKey = fields.String()
    application_profile = fields.String()


class SubmitMessageResponseSchema(ResponseSchema):
    sessionId = Str(required=True)
    accepted = Bool(required=True)
    status = Str(required=True)
    profile = Str()


class ChatEntitySchema(ResponseSchema):
    """A timeline entity; the values keep the types the session store gives them (ordinals as strings, as Go's)."""

    kind = Str()
    id = Str()
    createdOrdinal = Str()
    lastEventOrdinal = Str()
    tombstone = Bool()
    payload = Obj()
    createdAt = Int()


class ChatSnapshotSchema(ResponseSchema):
    sessionId = Str(required=True)
    snapshotOrdinal = Str()
    status = Str(metadata={"description": "idle, streaming, finished or error"})
    entities = fields.List(fields.Nested(ChatEntitySchema), required=True)


CREATED_SESSION = CreateSessionResponseSchema()
SUBMITTED = SubmitMessageResponseSchema()
SNAPSHOT = ChatSnapshotSchema()


def chat_sessions() -> ChatSessionStore:
    """The app's session store."""
    return app_state().chat_sessions


def chat_limits(config: Mapping[str, Any]) -> ChatLimits:
    """The chat sessions' limits from the app's config (`serve` flags)."""
    return ChatLimits(
        max_prompt_bytes=int(config["CHAT_MAX_PROMPT_BYTES"]),
        max_messages_per_session=int(config["CHAT_MAX_MESSAGES_PER_SESSION"]),
        max_sessions=int(config["CHAT_MAX_SESSIONS"]),
        session_idle_seconds=float(config["CHAT_SESSION_IDLE_SECONDS"]),
        max_sessions_bytes=int(config["CHAT_MAX_SESSIONS_BYTES"]),
        max_concurrent_runs=int(config["CHAT_MAX_CONCURRENT_RUNS"]),
        max_queued_runs=int(config["CHAT_MAX_QUEUED_RUNS"]),
    )


@blp.errorhandler(ChatError)
def _chat_error(exc: ChatError) -> Response:
    return chat_error(exc.status, str(exc))


@blp.errorhandler(ChatRefused)
def _chat_refused(exc: ChatRefused) -> Response:
    response = chat_error(exc.status, str(exc))
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def json_object() -> dict[str, Any]:
    """The body as an object; empty or `null` is `{}`, anything else malformed is 400 `bad request`."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    try:
        body = parse_body(raw)
    except BadJSON as exc:
        raise ChatError(400, "bad request" if exc.malformed else f"bad request: {exc}") from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ChatError(400, "bad request")
    return body


def string_field(body: dict[str, Any], name: str) -> str:
    """An optional string field, its key matched as Go's decoder does (case-insensitively); another JSON type
    fails decoding in the reference (400 `bad request`)."""
    value = gojson.field(body, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ChatError(400, "bad request")
    return value


def _view_has_registries() -> bool:
    view = service().chain.view()
    return bool(view.registries or view.quarantined)


def run_plan(body_profile: str, body_registry: str) -> RunPlan:
    """Select and compose the runtime of one message; every failure is 400 with the reference's text."""
    # The reference trims both selections first; its 400 texts quote the trimmed value.
    profile, registry = body_profile.strip(), body_registry.strip()
    if profile.lower() == MOCK_PARITY_SLUG:
        delay = float(current_app.config.get("CHAT_MOCK_CHUNK_DELAY_MS", 5)) / 1000
        return RunPlan(
            MockParityEngine(delay), DEFAULT_SYSTEM_PROMPT, MOCK_RUNTIME_KEY, MOCK_FINGERPRINT, MOCK_PARITY_SLUG
        )
    has_registries = _view_has_registries()
    profile_slug = registry_slug = ""
    if profile:
        if not has_registries:
            raise ChatError(400, "profile selection requires configured profile registries")
        try:
            profile_slug = parse_profile_slug(profile)
        except SlugError as exc:
            raise ChatError(400, f"invalid profile: {profile}: {exc}") from exc
    if registry:
        if not has_registries:
            raise ChatError(400, "registry selection requires configured profile registries")
        try:
            registry_slug = parse_registry_slug(registry)
        except SlugError as exc:
            raise ChatError(400, f"invalid registry: {registry}: {exc}") from exc
    view = service().chain.view()
    try:
        resolved = resolve_profile(view, registry_slug, profile_slug)
    except RegistryError as exc:
        raise ChatError(400, chat_error_text(exc, profile_slug)) from exc
    try:
        composed = compose_runtime(resolved, service().catalog)
        engine = build_engine(composed.settings, key_policy())
    except CompositionError as exc:
        raise ChatError(400, str(exc)) from exc
    except EngineConfigError as exc:
        raise ChatError(400, f"engine init failed: {exc}") from exc
    return RunPlan(engine, composed.system_prompt, composed.runtime_key, composed.fingerprint, resolved.profile_slug)


@blp.route("", strict_slashes=True)
class Sessions(MethodView):
    @blp.doc(requestBody={"required": False, "content": {"application/json": {"schema": CreateSessionSchema}}})
    @blp.response(200, CreateSessionResponseSchema)
    @blp.alt_response(400, schema=ChatErrorSchema, description="malformed body")
    def post(self) -> Response:
        """A new session id; the profile is echoed, not checked (it is chosen per message)."""
        body = json_object()
        profile = string_field(body, "profile").strip()
        string_field(body, "registry")
        string_field(body, "application_profile")
        out = {"sessionId": ChatSessionStore.new_id()}
        if profile:
            out["profile"] = profile
        return dumped(CREATED_SESSION, out)


@blp.route("/<session_id>")
class Session(MethodView):
    @blp.response(200, ChatSnapshotSchema)
    def get(self, session_id: str) -> Response:
        """The session's timeline entities and status (`finished` once the answer is complete)."""
        return dumped(SNAPSHOT, chat_sessions().snapshot(session_id))


@blp.route("/<session_id>/messages")
class Messages(MethodView):
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": SubmitMessageSchema}}})
    @blp.response(200, SubmitMessageResponseSchema)
    @blp.alt_response(400, schema=ChatErrorSchema, description="bad body, or the profile does not resolve")
    @blp.alt_response(413, schema=ChatErrorSchema, description="prompt larger than CHAT_MAX_PROMPT_BYTES")
    @blp.alt_response(429, schema=ChatErrorSchema, description="the session has CHAT_MAX_MESSAGES_PER_SESSION messages")
    @blp.alt_response(500, schema=ChatErrorSchema, description="the run could not be started")
    @blp.alt_response(503, schema=ChatErrorSchema, description="run queue or session memory full; see Retry-After")
    def post(self, session_id: str) -> Response:
        """Resolve the body's profile (empty registry = the default registry) and start the run."""
        body = json_object()
        prompt = string_field(body, "prompt")
        profile = string_field(body, "profile")
        registry = string_field(body, "registry")
        string_field(body, "idempotencyKey")
        string_field(body, "application_profile")
        attachments = gojson.field(body, "attachments") or []
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise ChatError(400, "bad request")
        for attachment in attachments:
            if not string_field(attachment, "attachment_id").strip():
                raise ChatError(400, "attachment_id must not be empty")
        if not prompt.strip() and not attachments:
            raise ChatError(400, "missing prompt or attachments")
        chat_sessions().check_prompt(prompt)  # before the profile is resolved: an oversized prompt costs nothing more
        plan = run_plan(profile, registry)
        try:
            chat_sessions().submit(session_id, prompt, plan)
        except RuntimeError as exc:  # e.g. no thread can be started
            raise ChatError(500, f"submit failed: {exc}") from exc
        out: dict[str, Any] = {"sessionId": session_id, "accepted": True, "status": "running"}
        if profile.strip():
            out["profile"] = profile.strip()
        return dumped(SUBMITTED, out)


# The reference's mux trims slashes around the part after /api/chat/sessions/, so `/<id>/` and `/<id>/messages/`
# are the same routes. Registered on Flask's own add_url_rule so the OpenAPI document lists each route once.
flask.Blueprint.add_url_rule(blp, "/<session_id>/", view_func=Session.as_view("session_slash"))
flask.Blueprint.add_url_rule(blp, "/<session_id>/messages/", view_func=Messages.as_view("messages_slash"))
