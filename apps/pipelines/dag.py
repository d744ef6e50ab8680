"""Lays out a pipeline's steps as a left-to-right DAG for the server-rendered SVG.

Each step goes in the column of its longest path from a root (so every edge points right); within a
column, steps keep their document order. Pure Python: pages of both apps draw pipelines (from a
version's spec) and executions (from their step rows) with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NODE_WIDTH = 168
NODE_HEIGHT = 36
COLUMN_GAP = 56
ROW_GAP = 14
MARGIN = 8
LABEL_CHARS = 22


@dataclass
class Node:
    id: str
    kind: str
    status: str
    column: int
    row: int = 0
    x: int = 0
    y: int = 0

    @property
    def label(self) -> str:
        return self.id if len(self.id) <= LABEL_CHARS else self.id[: LABEL_CHARS - 1] + "…"

    @property
    def text_x(self) -> int:
        return self.x + 12

    @property
    def text_y(self) -> int:
        return self.y + NODE_HEIGHT // 2 + 5


@dataclass
class Edge:
    source: str
    target: str
    path: str


@dataclass
class Layout:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def _columns(order: Sequence[str], needs: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Longest-path depth of each node; unknown needs are ignored and cycles cannot loop forever."""
    column: dict[str, int] = {}
    known = set(order)
    visiting: set[str] = set()

    def depth(node: str) -> int:
        if node in column:
            return column[node]
        if node in visiting:  # a cycle (never in a valid spec): cut it here
            return 0
        visiting.add(node)
        parents = [p for p in needs.get(node, ()) if p in known]
        value = 1 + max((depth(p) for p in parents), default=-1)
        visiting.discard(node)
        column[node] = value
        return value

    for node in order:
        depth(node)
    return column


def layout(steps: Sequence[Mapping[str, Any]]) -> Layout:
    """``steps``: dicts with ``id``, ``needs`` and optionally ``kind`` and ``status``, in document order."""
    order = [str(step["id"]) for step in steps]
    needs = {str(step["id"]): [str(n) for n in step.get("needs") or []] for step in steps}
    columns = _columns(order, needs)
    result = Layout()
    rows: dict[int, int] = {}
    by_id: dict[str, Node] = {}
    for step in steps:
        node_id = str(step["id"])
        col = columns[node_id]
        node = Node(node_id, str(step.get("kind") or ""), str(step.get("status") or ""), col, rows.get(col, 0))
        rows[col] = node.row + 1
        node.x = MARGIN + col * (NODE_WIDTH + COLUMN_GAP)
        node.y = MARGIN + node.row * (NODE_HEIGHT + ROW_GAP)
        by_id[node_id] = node
        result.nodes.append(node)
    for node in result.nodes:
        for parent_id in needs[node.id]:
            parent = by_id.get(parent_id)
            if parent is None:
                continue
            x1, y1 = parent.x + NODE_WIDTH, parent.y + NODE_HEIGHT // 2
            x2, y2 = node.x, node.y + NODE_HEIGHT // 2
            bend = (x2 - x1) // 2
            result.edges.append(Edge(parent.id, node.id, f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"))
    columns_used = max(columns.values(), default=-1) + 1
    rows_used = max(rows.values(), default=0)
    result.width = 2 * MARGIN + max(columns_used * NODE_WIDTH + (columns_used - 1) * COLUMN_GAP, 0)
    result.height = 2 * MARGIN + max(rows_used * NODE_HEIGHT + (rows_used - 1) * ROW_GAP, 0)
    return result


def spec_layout(spec: Mapping[str, Any]) -> Layout:
    """The DAG of a pipeline version's normalised spec (matrix children as their own nodes)."""
    steps = [{"id": s["id"], "needs": s.get("needs") or [], "kind": s.get("type", "")} for s in spec.get("steps") or []]
    return layout(steps)
