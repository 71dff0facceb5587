"""Which shape an error takes on which route: the one table every API error handler reads.

Three shapes live under /api/: the reference's plain text on the routes it serves (the same message as JSON for a
client that sends `Accept: application/json`), the chat routes' `{"error": ...}`, and flask-smorest's JSON
(`code`, `status`, `message`) on our own routes. Outside /api/ errors are HTML pages.

A request that reached a route takes the shape of the route's blueprint: the reference's blueprints answer in its
text, the chat blueprint in its shape, every other API blueprint in JSON. So a new route of ours is JSON even
under a reference prefix, with nothing to register. A request that reached no route (404, 405, or HEAD/OPTIONS
refused below) goes by its path: a route family is a path pattern with the shape of its reads (GET, and
HEAD/OPTIONS) and of its writes; the first family whose pattern matches the whole path wins, so the specific ones
come first.
`go_methods` marks families served by a Go handler that checks the method itself: HEAD and OPTIONS are 405 there
instead of being answered by the framework, and a wrong method is refused in the read shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Shape(Enum):
    REFERENCE = "reference text"
    CHAT = "chat json"
    JSON = "json"


@dataclass(frozen=True)
class Family:
    pattern: re.Pattern[str]
    reads: Shape
    writes: Shape
    go_methods: bool


def _family(pattern: str, reads: Shape, writes: Shape, *, go_methods: bool) -> Family:
    return Family(re.compile(pattern), reads, writes, go_methods)


FAMILIES = (
    _family(r"/api/chat/sessions(/.*)?", Shape.CHAT, Shape.CHAT, go_methods=True),
    # Ours, beside the reference's profile routes: JSON like the rest of our routes.
    _family(r"/api/chat/profiles/[^/]+/resolved/?", Shape.JSON, Shape.JSON, go_methods=True),
    # The reference's profile reads; the admin writes (`serve --writable`) on the same paths are ours.
    _family(r"/api/chat/profiles(/.*)?", Shape.REFERENCE, Shape.JSON, go_methods=True),
    # The current-profile cookie: the reference serves both GET and POST.
    _family(r"/api/chat/profile", Shape.REFERENCE, Shape.REFERENCE, go_methods=True),
    _family(r"/api/chat/schemas/.*", Shape.REFERENCE, Shape.REFERENCE, go_methods=True),
    _family(r"/api/.*", Shape.JSON, Shape.JSON, go_methods=False),
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Blueprints whose routes are the reference's (registry/api/profiles.py, current_profile.py, catalogs.py) or the
# chat routes; any other blueprint under /api/ is ours and answers JSON.
BLUEPRINT_SHAPES = {"profiles": Shape.REFERENCE, "current_profile": Shape.REFERENCE, "schemas": Shape.REFERENCE,
                    "chat": Shape.CHAT}


def family_of(path: str) -> Family | None:
    """The route family of `path`; None outside /api/ (HTML pages)."""
    for family in FAMILIES:
        if family.pattern.fullmatch(path):
            return family
    return None


def shape_of(method: str, path: str, blueprint: str | None = None) -> Shape | None:
    """The shape of an error answered to `method path` (routed to `blueprint`, if any); None for an HTML page."""
    family = family_of(path)
    if blueprint is not None and family is not None:
        return BLUEPRINT_SHAPES.get(blueprint, Shape.JSON)
    if family is None:
        return None
    return family.reads if method in READ_METHODS else family.writes
