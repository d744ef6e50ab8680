"""Collects issues while a document is checked, attaching the YAML line/column of each path."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Path, SpecIssue, format_path

Mark = tuple[int, int]


@dataclass
class Positions:
    """Where each value (and each mapping key) of a loaded document came from, by document path."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)

    def find(self, path: Path, *, key: bool = False) -> Mark | None:
        if key and path in self.keys:
            return self.keys[path]
        # Fall back to the nearest enclosing node that has a position (e.g. a missing key's mapping).
        for end in range(len(path), -1, -1):
            mark = self.values.get(path[:end])
            if mark is not None:
                return mark
        return None


class Issues:
    """An ordered, de-duplicated list of issues, each located through ``Positions``."""

    def __init__(self, positions: Positions | None = None) -> None:
        self.positions = positions or Positions()
        self._items: list[SpecIssue] = []
        self._seen: set[tuple[str, str]] = set()
        self._schema_paths: set[Path] = set()

    def add(self, path: Path, message: str, *, key: bool = False, mark: Mark | None = None) -> None:
        text = format_path(path)
        if (text, message) in self._seen:
            return
        self._seen.add((text, message))
        mark = mark or self.positions.find(path, key=key)
        line, column = mark if mark else (None, None)
        self._items.append(SpecIssue(text, line, column, message))

    def add_schema(self, path: Path, message: str, *, key: bool = False) -> None:
        """An issue found by the JSON Schema; later semantic checks at or below this path are suppressed."""
        self._schema_paths.add(path)
        self.add(path, message, key=key)

    def add_semantic(self, path: Path, message: str, *, key: bool = False) -> None:
        """An issue found by a semantic check, unless the schema already reported this node or an ancestor."""
        if any(path[:end] in self._schema_paths for end in range(len(path) + 1)):
            return
        self.add(path, message, key=key)

    def __bool__(self) -> bool:
        return bool(self._items)

    def sorted(self) -> list[SpecIssue]:
        big = 1 << 30
        return sorted(self._items, key=lambda i: (i.line if i.line is not None else big, i.column or 0))
