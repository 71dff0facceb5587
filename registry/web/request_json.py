"""The one strict parser of JSON request bodies: every route that reads a JSON body goes through `parse_body`.

Python's json module accepts what JSON (RFC 8259) does not: `NaN`, `Infinity` and `-Infinity`, and `\\ud800`
escapes that decode to a lone surrogate, a str that cannot be encoded back to UTF-8 (so it fails later, far
from the request, when it is written or answered). Its int() also refuses integers longer than the interpreter's
digit limit (4,300) with a ValueError that is not a JSONDecodeError, and nesting a few thousand levels deep
raises RecursionError. Each of these is the client's mistake: `BadJSON` carries a one-line reason that the
routes answer as 400, before anything is looked up or written.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class BadJSON(ValueError):
    """A request body that is not strict JSON; the message is the one-line reason.

    `malformed` is True for plain syntax errors (the reference's routes answer those with their fixed text
    `bad request`), False for what Python's json module would have let through or crashed on.
    """

    def __init__(self, reason: str, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed


# Python refuses int() of longer digit strings (sys.get_int_max_str_digits); 0 means no limit is set.
_MAX_INT_DIGITS = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0


def _refuse_constant(name: str) -> Any:
    raise BadJSON(f"{name} is not a JSON number")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if _MAX_INT_DIGITS and digits > _MAX_INT_DIGITS:
        raise BadJSON(f"an integer of {digits} digits is longer than the {_MAX_INT_DIGITS} digits accepted")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999: valid JSON syntax, but no finite number
        raise BadJSON(f"the number {text[:40]} is out of range")
    return value


def _check_strings(value: Any) -> None:
    """Refuse any key or string holding a lone surrogate (an escape like \\ud800 without its pair)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadJSON(
            f"a string holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not a Unicode character"
        ) from None


def parse_body(raw: bytes | str) -> Any:
    """The JSON value of a request body; BadJSON with the reason if it is not strict UTF-8 JSON.

    An empty body is BadJSON too; callers that treat it as "no body" check for that first.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadJSON(f"the body is not UTF-8 (byte {exc.start}: {exc.reason})", True) from None
    else:
        text = raw
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise BadJSON(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", True) from None
    except RecursionError:
        raise BadJSON("the body is nested too deeply") from None
    except ValueError as exc:  # BadJSON from the hooks above, or int()'s own limit
        raise BadJSON(str(exc)) from None
    _check_strings(value)
    return value
