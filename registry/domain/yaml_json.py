"""YAML text to JSON values, with bounds: the only way registry YAML (sources, `import`, the seed) is read.

A registry is a JSON document, so its YAML form may only hold what JSON holds: null, booleans, finite numbers,
strings of Unicode characters, lists and string-keyed maps. PyYAML's safe loader gives more (dates, bytes for
`!!binary`, sets, NaN) that break later, far from the file, when the registry is stored or answered. And YAML
can multiply: an anchor used ten times inside an anchor used ten times... makes a 500-byte file expand into
gigabytes once something walks it (a merge, a JSON answer), while loading it stays cheap because PyYAML shares
the aliased objects. So this loader:

- resolves plain scalars as YAML 1.1 does except dates, which stay strings (the reference's YAML library reads
  them as strings too), and refuses every other non-JSON value or explicit tag;
- refuses nesting deeper than `max_depth`, counted both while composing (so a 5,000-level file stops at the
  limit, never reaching the interpreter's recursion limit) and after alias expansion;
- refuses a document whose JSON size after alias expansion exceeds `max_expanded_bytes`, computed without
  expanding anything (each distinct node is measured once);
- returns fresh, unshared lists and dicts (the bound keeps that copy small).

Every refusal is one YAMLRefused line with the 1-based line and column of the first offending value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

TAG = "tag:yaml.org,2002:"
NULL, BOOL, INT, FLOAT, STR = (TAG + name for name in ("null", "bool", "int", "float", "str"))
SEQ, MAP, MERGE = TAG + "seq", TAG + "map", TAG + "merge"


@dataclass(frozen=True)
class YAMLLimits:
    """The bounds of one load (settings YAML_MAX_DEPTH and REGISTRY_MAX_EXPANDED_BYTES, see README)."""

    max_depth: int = 100
    max_expanded_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = YAMLLimits()


class YAMLRefused(ValueError):
    """YAML that is not a bounded JSON document; str() is one line: `line L, column C: reason`.

    `too_large` marks the expanded-size refusal (the file itself is fine), and `slug` is then the top-level
    `slug:` scalar when there is one, so a source can be quarantined under its name instead of stopping the start.
    """

    def __init__(self, reason: str, mark: Any, too_large: bool = False, slug: str | None = None) -> None:
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        super().__init__(where + " ".join(reason.split()))
        self.too_large = too_large
        self.slug = slug


class JSONResolver(Resolver):
    """YAML 1.1 plain-scalar resolution without timestamps and `=` (both stay strings)."""


JSONResolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (TAG + "timestamp", TAG + "value")]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}


class DepthLimitedComposer(Composer):
    """PyYAML's composer (recursive), stopped at `max_depth` levels before Python's recursion limit is near."""

    max_depth = DEFAULT_LIMITS.max_depth
    depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self.depth += 1
        try:
            # Scalars are composed one level below their container: the limit counts containers, as Builder does.
            if self.depth > self.max_depth + 1:
                raise YAMLRefused(f"nested deeper than {self.max_depth} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class BoundedLoader(Reader, Scanner, Parser, DepthLimitedComposer, JSONResolver):
    """Reads events into a node graph; values are built by `Builder`, never by a PyYAML constructor."""

    def __init__(self, text: str, max_depth: int) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        JSONResolver.__init__(self)
        self.max_depth = max_depth


# PyYAML's own conversions of int (0x, 0o, 1_000, 1:30), float and bool scalars, reused as plain functions.
_SCALARS = SafeConstructor()


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(TAG) :] if tag.startswith(TAG) else tag


class Builder:
    """Builds the JSON value of a node graph, each distinct node once, measuring its size after alias expansion."""

    def __init__(self, limits: YAMLLimits) -> None:
        self.limits = limits
        self.values: dict[int, Any] = {}  # id(node) -> built list/dict, shared by every alias of the node
        self.sizes: dict[int, int] = {}  # id(built list/dict) -> its JSON size with every alias expanded
        self.depths: dict[int, int] = {}  # id(node) -> nesting depth below it, aliases expanded
        self.building: set[int] = set()

    def build(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        key = id(node)
        if key in self.values:
            return self.values[key]
        if key in self.building:
            raise YAMLRefused("an alias refers to a node that contains it (a recursive structure)", node.start_mark)
        self.building.add(key)
        value: Any
        try:
            if isinstance(node, SequenceNode) and node.tag == SEQ:
                value, size, depth = self.sequence(node)
            elif isinstance(node, MappingNode) and node.tag == MAP:
                value, size, depth = self.mapping(node)
            else:
                raise YAMLRefused(f"{_tag_name(node.tag)} is not a JSON type", node.start_mark)
        finally:
            self.building.discard(key)
        self.check_running(size, node)
        if depth > self.limits.max_depth:
            raise YAMLRefused(
                f"nested deeper than {self.limits.max_depth} levels once its aliases are followed", node.start_mark
            )
        self.values[key] = value
        self.sizes[id(value)] = size
        self.depths[key] = depth
        return value

    def size_of(self, value: Any) -> int:
        """JSON size of a built value: containers were measured when built, scalars are measured here."""
        if isinstance(value, (dict, list)):
            return self.sizes[id(value)]
        if isinstance(value, str):
            return len(value) + 2
        return len(str(value).lower()) if value is not None else 4

    def depth_of(self, node: Node) -> int:
        return 0 if isinstance(node, ScalarNode) else self.depths.get(id(node), 0)

    def sequence(self, node: SequenceNode) -> tuple[list[Any], int, int]:
        items, size, depth = [], 2, 0
        for child in node.value:
            item = self.build(child)
            items.append(item)
            size += self.size_of(item) + 1
            depth = max(depth, self.depth_of(child))
            self.check_running(size, child)
        return items, size, depth + 1

    def mapping(self, node: MappingNode) -> tuple[dict[str, Any], int, int]:
        merged: dict[str, Any] = {}
        explicit: dict[str, Any] = {}
        depth = 0
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == MERGE:
                # `<<: *base` or `<<: [*a, *b]`: earlier sources win over later ones, explicit keys over all.
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in reversed(sources):
                    value = self.build(source)
                    if not isinstance(value, dict):
                        raise YAMLRefused("a merge key (<<) needs a mapping or a list of mappings", source.start_mark)
                    merged.update(value)
                    depth = max(depth, self.depth_of(source) - 1)
                continue
            explicit[self.key(key_node)] = self.build(value_node)
            depth = max(depth, self.depth_of(value_node))
        merged.update(explicit)
        size = 2
        for key, value in merged.items():
            size += len(key) + 4 + self.size_of(value)
            self.check_running(size, node)
        return merged, size, depth + 1

    def check_running(self, size: int, node: Node) -> None:
        # Stop as soon as a container passes the limit, not after summing all of a huge list.
        if size > self.limits.max_expanded_bytes:
            raise YAMLRefused(
                f"the document expands to more than {self.limits.max_expanded_bytes} bytes once its aliases are "
                "followed (REGISTRY_MAX_EXPANDED_BYTES)",
                node.start_mark,
                too_large=True,
            )

    def key(self, node: Node) -> str:
        """A map key as JSON's string: a plain `1` or `true` key is its text, as the reference reads it."""
        if not isinstance(node, ScalarNode):
            raise YAMLRefused("a mapping key must be a string, not a list or a mapping", node.start_mark)
        if node.tag not in (NULL, BOOL, INT, FLOAT, STR):
            raise YAMLRefused(f"{_tag_name(node.tag)} is not a JSON type", node.start_mark)
        return self.text(node.value, node)

    def text(self, value: str, node: Node) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise YAMLRefused(
                f"a string holds a lone surrogate (\\u{ord(value[exc.start]):04x}), which is not a Unicode character",
                node.start_mark,
            ) from None
        return value

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == STR:
            return self.text(node.value, node)
        if tag == NULL:
            return None
        try:
            if tag == BOOL:
                return _SCALARS.construct_yaml_bool(node)
            if tag == INT:
                number = _SCALARS.construct_yaml_int(node)
                str(number)  # ValueError past the interpreter's 4,300-digit limit: no JSON text could hold it
                return number
            if tag == FLOAT:
                number = _SCALARS.construct_yaml_float(node)
                if not math.isfinite(number):
                    raise YAMLRefused(
                        f"{node.value} is not a JSON number (JSON has no NaN or infinity)", node.start_mark
                    )
                return number
        except YAMLRefused:
            raise
        except (ValueError, ConstructorError):
            # int()'s digit limit (4,300 by default) or a malformed number: either way no JSON text holds it.
            raise YAMLRefused(f"the number {node.value[:40]}... is too long for JSON", node.start_mark) from None
        raise YAMLRefused(f"{_tag_name(tag)} is not a JSON type", node.start_mark)


def _unshared(value: Any) -> Any:
    """A copy in which no list or dict appears twice (callers may mutate what they got)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def _top_level_slug(root: Node | None) -> str | None:
    """The `slug:` of a top-level mapping, read from the node graph without building anything."""
    if isinstance(root, MappingNode):
        for key_node, value_node in root.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "slug" and isinstance(value_node, ScalarNode):
                return value_node.value
    return None


def load_json_yaml(text: str, limits: YAMLLimits = DEFAULT_LIMITS) -> Any:
    """The JSON value of a one-document YAML text (None when empty); YAMLRefused with the position otherwise."""
    loader = None
    try:
        loader = BoundedLoader(text, limits.max_depth)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YAMLRefused(" ".join(filter(None, [exc.context, exc.problem])), mark) from None
    except yaml.YAMLError as exc:  # reader errors (a control character, bad encoding) carry no mark
        raise YAMLRefused(str(exc), None) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        return None
    try:
        return _unshared(Builder(limits).build(root))
    except YAMLRefused as exc:
        if exc.too_large:
            exc.slug = _top_level_slug(root)
        raise
