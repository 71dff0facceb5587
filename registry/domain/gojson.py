"""JSON text the way Go's encoding/json writes it, so our bytes match the reference's.

Go writes compact JSON, escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings, and its HTTP helpers end
the body with a newline. Key order is whatever the caller built (struct order or sorted map keys).
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(value: Any) -> str:
    """Compact JSON with Go's HTML escaping; the characters escaped only ever occur inside strings."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).translate(_GO_ESCAPES)


def body(value: Any) -> bytes:
    """An HTTP response body: the JSON followed by a newline, as Go's json.Encoder emits it."""
    return (dumps(value) + "\n").encode("utf-8")
