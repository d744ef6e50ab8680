"""Safe YAML loading with bounded size, depth and node count, duplicate-key detection and node positions."""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import Path
from .report import Issues, Mark, Positions

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_CORE_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_KEEP_TEXT = {"tag:yaml.org,2002:timestamp"}


class _LimitError(Exception):
    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader whose composer refuses documents nested too deeply or with too many nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_DEPTH or self._nodes > MAX_NODES:
            mark = self.peek_event().start_mark
            where = (mark.line + 1, mark.column + 1)
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"document is nested deeper than {MAX_DEPTH} levels", where)
            raise _LimitError(f"document has more than {MAX_NODES} nodes", where)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def decode(text: str | bytes, issues: Issues) -> str | None:
    """The document as text, or None (with an issue) when it is not UTF-8 or too large."""
    if isinstance(text, bytes | bytearray):
        data = bytes(text)
        if len(data) > MAX_BYTES:
            issues.add((), f"document is larger than {MAX_BYTES // 1024} KiB", mark=(1, 1))
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            issues.add((), f"document is not valid UTF-8 (byte 0x{data[exc.start]:02x})", mark=(line, column))
            return None
    if not isinstance(text, str):
        issues.add((), "document must be text")
        return None
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        issues.add((), f"document is larger than {MAX_BYTES // 1024} KiB", mark=(1, 1))
        return None
    return text.removeprefix("\ufeff")


FAILED: Any = object()


def load(text: str | bytes, issues: Issues) -> Any:
    """Load one YAML document into plain JSON-like values, recording positions in ``issues.positions``.

    Returns ``FAILED`` when the document could not be loaded at all (the reasons are added to ``issues``).
    """
    source = decode(text, issues)
    if source is None:
        return FAILED
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(source)  # the reader already refuses control characters here
        node = loader.get_single_node()
    except _LimitError as exc:
        issues.add((), exc.message, mark=exc.mark)
        return FAILED
    except yaml.reader.ReaderError as exc:
        line = source.count("\n", 0, exc.position) + 1
        column = exc.position - (source.rfind("\n", 0, exc.position) + 1) + 1
        issues.add((), f"unacceptable character #x{exc.character:04x}: {exc.reason}", mark=(line, column))
        return FAILED
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else None
        parts = [p for p in (exc.context, exc.problem) if p]
        issues.add((), "YAML syntax error: " + (", ".join(parts) or "invalid document"), mark=where)
        return FAILED
    except (yaml.YAMLError, RecursionError) as exc:
        issues.add((), f"YAML syntax error: {exc}")
        return FAILED
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        issues.add((), "document is empty", mark=(1, 1))
        return FAILED
    try:
        return _Converter(loader, issues).convert(node, (), 0)
    except _LimitError as exc:
        issues.add((), exc.message, mark=exc.mark)
        return FAILED


class _Converter:
    """Turns composed nodes into dicts/lists/scalars; aliases are expanded here, so nodes are counted here."""

    def __init__(self, loader: yaml.SafeLoader, issues: Issues) -> None:
        self.loader = loader
        self.issues = issues
        self.positions: Positions = issues.positions
        self.count = 0

    def convert(self, node: Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _LimitError(f"document expands to more than {MAX_NODES} nodes (aliases?)", _mark(node))
        if depth > MAX_DEPTH:
            raise _LimitError(f"document is nested deeper than {MAX_DEPTH} levels (recursive alias?)", _mark(node))
        self.positions.values[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, SequenceNode):
            return [self.convert(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self.mapping(node, path, depth)
        self.issues.add(path, "unsupported YAML node")
        return None

    def scalar(self, node: ScalarNode, path: Path) -> Any:
        if node.tag == _STR or node.tag in _KEEP_TEXT:
            return node.value
        if node.tag not in _CORE_SCALARS:
            self.issues.add(path, f"unsupported YAML tag {node.tag!r}")
            return node.value
        try:
            value = self.loader.yaml_constructors[node.tag](self.loader, node)
        except (ValueError, yaml.YAMLError) as exc:
            self.issues.add(path, f"invalid value {node.value!r}: {exc}")
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            self.issues.add(path, "infinite and not-a-number values are not supported")
            return node.value
        return value

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        result: dict[str, Any] = {}
        first_seen: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.merge(value_node, path, depth, merged)
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag not in (_STR, *_CORE_SCALARS, *_KEEP_TEXT):
                self.issues.add(path, "mapping keys must be plain scalars", mark=_mark(key_node))
                continue
            key = key_node.value
            if key in first_seen:
                line, column = first_seen[key]
                self.issues.add(
                    (*path, key),
                    f"duplicate key {key!r} (first defined at line {line}, column {column})",
                    mark=_mark(key_node),
                )
                continue
            first_seen[key] = _mark(key_node)
            self.positions.keys[(*path, key)] = _mark(key_node)
            result[key] = self.convert(value_node, (*path, key), depth + 1)
        if not merged:
            return result
        for key, value in result.items():
            merged.pop(key, None)
            merged[key] = value
        return merged

    def merge(self, value_node: Node, path: Path, depth: int, into: dict[str, Any]) -> None:
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self.issues.add(path, "a merge key '<<' takes a mapping or a list of mappings", mark=_mark(source))
                continue
            for key, value in self.mapping(source, path, depth + 1).items():
                into.setdefault(key, value)
