"""Keep flask-smorest's documentation of a view but not its call wrappers, on the hot reference routes.

Each `@blp.doc` / `@blp.response` / `@blp.alt_response` wraps the view in a pass-through layer (an
`ensure_sync` call each); for a view that always returns a finished `Response` they change nothing but cost
time on every request. The OpenAPI document is built from the `_apidoc` attribute, which is kept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def documented_only(view: F) -> F:
    """Outermost decorator: the undecorated view carrying the collected `_apidoc` (the view must return a Response)."""
    inner = inspect.unwrap(view)
    inner._apidoc = view._apidoc  # type: ignore[attr-defined]
    return inner  # type: ignore[return-value]
