"""The profile reads answered from their cached bytes before Flask builds a request: the read API's fast path.

The list and detail routes (registry/api/profiles.py) dump and encode a body once per database generation and keep
the bytes on the chain view; after that a request costs a dictionary lookup, and what is left of its time is
Flask's own work around it: a request context, the URL map, the session, the hooks, a Response object. That work
was most of what separated these routes from a bare waitress+Flask app serving the same bytes (bench/read_api.py,
README "Speed"). Here a GET whose answer is already cached for the current view is answered straight from the
WSGI environ; anything else (another method or route, a first request, a `?registry=` not seen before, a database
that changed since) goes to Flask unchanged, which answers and fills the cache. The view is still fetched per
request, so a write by any process is seen exactly as on the Flask path. tests/test_cached_reads.py checks that
both paths give the same status, headers and bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from registry.api.profiles import cached_answer
from registry.service.chain import RegistryChain
from registry.web.metrics import FAST_ROUTE_KEY

JSON = ("Content-Type", "application/json")


def install(app: Flask, chain: RegistryChain) -> None:
    """Put the fast path in front of the app's WSGI callable (inside the metrics wrapper, which counts its answers)."""
    flask_wsgi_app = app.wsgi_app
    # The route templates as Flask matches them, for the metrics: known once the blueprints are registered.
    rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
    list_rule, detail_rule = rules["profiles.profile_list"], rules["profiles.profile_get"]
    list_path = list_rule

    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            path = environ.get("PATH_INFO", "")
            try:
                body = cached_answer(chain.view(), path, environ.get("QUERY_STRING", ""))
            except Exception:  # the database is unreachable, a source failed: the Flask path says how
                body = None
            if body is not None:
                environ[FAST_ROUTE_KEY] = list_rule if path == list_path else detail_rule
                start_response("200 OK", [JSON, ("Content-Length", str(len(body)))])
                return [body]
        return flask_wsgi_app(environ, start_response)

    app.wsgi_app = answer  # type: ignore[method-assign]
