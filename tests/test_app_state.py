"""The factory builds one application-state object; nothing of ours is kept under other `app.extensions` keys."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from registry.chat.chat_sessions import ChatSessionStore
from registry.dashboard.cache import DashboardCaches
from registry.dashboard.login_cookie import LiveLogins
from registry.web.app_state import STATE_KEY, AppState, app_state


def test_one_state_object_holds_what_the_app_needs(seeded_db, make_app):
    app = make_app(seeded_db)
    assert set(app.extensions) == {STATE_KEY, "flask-smorest"}
    state = app_state(app)
    assert isinstance(state, AppState)
    assert state.writer.service is state.service
    assert isinstance(state.chat_sessions, ChatSessionStore)
    assert isinstance(state.metrics, CollectorRegistry)
    assert isinstance(state.part(DashboardCaches), DashboardCaches)
    assert isinstance(state.part(LiveLogins), LiveLogins)
    # The views read the same objects: a request served through the state answers from its service.
    assert app.test_client().get("/api/chat/profiles/analyst").status_code == 200
    with app.app_context():
        assert app_state() is state
