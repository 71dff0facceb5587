"""The application's state, built once by the factory (registry/__init__.py) and read through `app_state()`.

One typed object instead of string keys in `app.extensions` set by several modules: what a view needs is an
attribute with a type, and a reader sees in one place everything an app holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from flask import Flask, current_app
from prometheus_client import CollectorRegistry

from registry.chat.chat_sessions import ChatSessionStore
from registry.service.registry_service import RegistryService
from registry.service.writes import RegistryWriter

STATE_KEY = "profile_registry_state"
T = TypeVar("T")


@dataclass
class AppState:
    service: RegistryService
    writer: RegistryWriter  # the admin API's write path (`serve --writable`)
    chat_sessions: ChatSessionStore
    metrics: CollectorRegistry | None = None  # set by registry/web/metrics.py's install
    # State of a layer above this one (the dashboard's caches and logins), found by its class: typed, no strings.
    parts: dict[type, object] = field(default_factory=dict)

    def part(self, kind: type[T]) -> T:
        found = self.parts[kind]
        assert isinstance(found, kind)
        return found


def app_state(app: Flask | None = None) -> AppState:
    """The state of `app`, or of the app serving this request."""
    state: AppState = (app or current_app).extensions[STATE_KEY]
    return state
