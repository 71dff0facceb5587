"""JSON text the way Go's encoding/json writes it, so our bytes match the reference's.

Go writes compact JSON, escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings, and its HTTP helpers end
the body with a newline. Key order is whatever the caller built (struct order or sorted map keys).
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps(value: Any, **options: Any) -> str:
    """Compact JSON with Go's HTML escaping; the characters escaped only ever occur inside strings.

    `options` are json.dumps's, for a caller with its own format (flask-smorest indents its OpenAPI document as
    json.MarshalIndent would, Flask's session serializer passes its separators).
    """
    separators = (",", ":") if options.get("indent") is None else (",", ": ")
    defaults: dict[str, Any] = {"ensure_ascii": False, "separators": separators, "allow_nan": False}
    options = defaults | options
    return json.dumps(value, **options).translate(_GO_ESCAPES)


def body(value: Any) -> bytes:
    """An HTTP response body: the JSON followed by a newline, as Go's json.Encoder emits it."""
    return (dumps(value) + "\n").encode("utf-8")


# Go's decoder matches an object key to a struct field with bytes.EqualFold: ASCII letters in either case, and
# two non-ASCII runes that fold onto ASCII ones (U+017F long s onto "s", U+212A Kelvin sign onto "k").
_NON_ASCII_FOLDS = {"\u017f": "s", "\u212a": "k"}


def fold(key: str) -> str:
    """The form two keys share when bytes.EqualFold calls them equal (ASCII letters lowered, the two runes mapped)."""
    if key.isascii():
        # Every key a client or the reference writes in practice: one C call, not a loop per character (the
        # write path decodes each profile's seven fields from every key of the object).
        return key.lower()
    return "".join(_NON_ASCII_FOLDS.get(c, c.lower() if c.isascii() else c) for c in key)


def names_field(key: str, name: str) -> bool:
    """True if Go's decoder would store the object key `key` into the struct field whose JSON name is `name`."""
    return key == name or fold(key) == name.lower()


def folded(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's values by folded key, the later of two keys folding alike winning, as Go's decoder stores them.

    For a decoder reading several fields of one object: `folded(obj).get(fold(name))` equals `field(obj, name)`,
    with each key folded once instead of once per field.
    """
    return {fold(key): value for key, value in obj.items()}


def field(obj: dict[str, Any], name: str) -> Any:
    """The value Go's decoder would store into field `name`: the last key matching it case-insensitively.

    A JSON object with the same field twice (`{"profile": .., "Profile": ..}`) sets it twice, the later key
    winning; absent, the field keeps its zero value (None here).
    """
    found = None
    for key, value in obj.items():
        if names_field(key, name):
            found = value
    return found
