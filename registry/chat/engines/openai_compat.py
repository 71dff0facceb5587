"""An OpenAI-compatible chat-completions engine on urllib (stdlib only), configured from merged profile settings.

Settings read (snake_case view of `inference_settings`, see registry/domain/resolve.py):

- `api.base_url`: the endpoint root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`;
  requests go to `<base_url>/chat/completions`. Falls back to `api.base_urls[<chat.api_type>]` (geppetto's map).
- `api.api_key_env`: the *name* of the environment variable that holds the key; no variable named, no
  `Authorization` header (local servers). The key itself is never stored, shown, logged or fingerprinted.
- `chat.engine` (the model), `chat.temperature`, `chat.top_p`, `chat.max_response_tokens` (sent as
  `max_tokens`), `chat.stop`, and `client.timeout_second` (seconds per connect/read, default 60).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from registry.chat.engines import EngineError, EventSink

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
# API types whose endpoints speak OpenAI's chat-completions protocol; an absent api_type is taken as one.
COMPATIBLE_API_TYPES = {"openai", "openai-compatible", "anyscale", "fireworks", "ollama"}
_ERROR_EXCERPT = 300


class EngineConfigError(Exception):
    """The merged settings do not describe a usable endpoint; the chat path reports `engine init failed: ...`."""


@dataclass(frozen=True)
class OpenAIConfig:
    """Everything one request needs, except the key (read from the environment at run time)."""

    base_url: str
    model: str
    api_key_env: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def url(self) -> str:
        """The chat-completions URL."""
        return self.base_url.rstrip("/") + "/chat/completions"


def base_url_of(settings: dict[str, Any]) -> str:
    """The endpoint the settings name, or ""."""
    api = settings.get("api") or {}
    url = api.get("base_url")
    if not url:
        api_type = (settings.get("chat") or {}).get("api_type") or ""
        url = (api.get("base_urls") or {}).get(api_type) if api_type else None
    return url.strip() if isinstance(url, str) else ""


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EngineConfigError(f"{name} must be a number")
    return float(value)


def config_from_settings(settings: dict[str, Any]) -> OpenAIConfig:
    """Read the engine settings; EngineConfigError names what is missing or malformed."""
    chat = settings.get("chat") or {}
    api = settings.get("api") or {}
    api_type = chat.get("api_type")
    if api_type and api_type not in COMPATIBLE_API_TYPES:
        raise EngineConfigError(f'chat.api_type "{api_type}" is not an OpenAI-compatible chat-completions API')
    base_url = base_url_of(settings)
    if not base_url:
        raise EngineConfigError("no chat endpoint: set api.base_url in the profile's inference_settings")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineConfigError(f"api.base_url must be an http(s) URL, got {base_url!r}")
    model = chat.get("engine")
    if not isinstance(model, str) or not model.strip():
        raise EngineConfigError("no model: set chat.engine in the profile's inference_settings")
    key_env = api.get("api_key_env") or ""
    if not isinstance(key_env, str):
        raise EngineConfigError("api.api_key_env must be the name of an environment variable")
    max_tokens = chat.get("max_response_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise EngineConfigError("chat.max_response_tokens must be a positive integer")
    stop = chat.get("stop") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise EngineConfigError("chat.stop must be a list of strings")
    timeout = _number((settings.get("client") or {}).get("timeout_second"), "client.timeout_second")
    if timeout is not None and timeout <= 0:
        raise EngineConfigError("client.timeout_second must be positive")
    return OpenAIConfig(
        base_url=base_url,
        model=model.strip(),
        api_key_env=key_env.strip(),
        temperature=_number(chat.get("temperature"), "chat.temperature"),
        top_p=_number(chat.get("top_p"), "chat.top_p"),
        max_tokens=max_tokens,
        stop=tuple(stop),
        timeout=timeout or DEFAULT_TIMEOUT_SECONDS,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAICompatibleEngine:
    """One POST to `<base_url>/chat/completions` per turn (no streaming); errors become EngineError."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    def check_key(self) -> None:
        """Fail before the run when the profile names a key variable that is not set."""
        if self.config.api_key_env and not os.environ.get(self.config.api_key_env):
            raise EngineConfigError(f"environment variable {self.config.api_key_env} (api.api_key_env) is not set")

    def request_body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The JSON body sent upstream."""
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "stream": False}
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if self.config.top_p is not None:
            body["top_p"] = self.config.top_p
        if self.config.max_tokens is not None:
            body["max_tokens"] = self.config.max_tokens
        if self.config.stop:
            body["stop"] = list(self.config.stop)
        return body

    def _fail(self, message: str, key: str) -> EngineError:
        # Upstream error bodies sometimes echo the key they were given; never pass it on.
        return EngineError(message.replace(key, "<redacted>") if key else message)

    def run(self, messages: list[dict[str, str]], sink: EventSink) -> str:
        """Send the turn and return the answer's text; EngineError on any upstream failure."""
        key = os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""
        if self.config.api_key_env and not key:
            raise EngineError(f"environment variable {self.config.api_key_env} (api.api_key_env) is not set")
        url = self.config.url
        data = json.dumps(self.request_body(messages)).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(urlsplit(url).hostname or "") else []
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=self.config.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            raise self._fail(
                f"chat completion failed: {url} answered HTTP {exc.code} {exc.reason}{detail}", key
            ) from exc
        except urllib.error.URLError as exc:
            raise self._fail(
                f"chat completion failed: {_network_reason(url, exc.reason, self.config.timeout)}", key
            ) from exc
        except TimeoutError as exc:
            raise EngineError(f"chat completion failed: no answer from {url} within {self.config.timeout:g} s") from exc
        except OSError as exc:
            raise self._fail(f"chat completion failed: {_network_reason(url, exc, self.config.timeout)}", key) from exc
        try:
            payload = json.loads(raw)
            message = payload["choices"][0]["message"]
            text = message.get("content") or ""
            reasoning = message.get("reasoning_content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._fail(
                f"chat completion failed: unexpected response from {url}: {raw[:_ERROR_EXCERPT]!r}", key
            ) from exc
        if not isinstance(text, str):
            raise EngineError(f"chat completion failed: unexpected response from {url}: content is not text")
        if isinstance(reasoning, str) and reasoning:
            sink.reasoning(reasoning)
        sink.text(text)
        log.info("chat completion from %s model=%s: %d chars", url, self.config.model, len(text))
        return text


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The upstream's own error message when it sent one (OpenAI's `{"error": {"message": ...}}`)."""
    try:
        body = exc.read(_ERROR_EXCERPT * 4)
    except (OSError, ValueError):
        return ""
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return f": {message[:_ERROR_EXCERPT]}"
    except (ValueError, AttributeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    return f": {text[:_ERROR_EXCERPT]}" if text else ""


def _network_reason(url: str, reason: object, timeout: float) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer from {url} within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return f"cannot connect to {url}: connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot connect to {url}: unknown host"
    return f"cannot connect to {url}: {reason}"
