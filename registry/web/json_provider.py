"""The app's JSON provider: Go's encoding (registry/domain/gojson.py) for `jsonify` and flask-smorest alike.

So every JSON body the app writes, not only the cached reference documents, has the reference's bytes: compact,
`<`, `>`, `&` escaped, non-ASCII as is, a newline at the end of a response.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask.json.provider import JSONProvider

from registry.domain import gojson


class GoJSONProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        # A caller's own formatting (flask-smorest indents the OpenAPI document) is kept; the escapes stay Go's.
        return gojson.dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        # The app keeps Flask's response class, so the flask Response is the one to build.
        return Response(gojson.body(self._prepare_response_obj(args, kwargs)), mimetype="application/json")
