"""Dependency graph helpers: cycles (listed in order) and transitive upstream sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def find_cycles(order: Sequence[str], needs: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each distinct cycle once, as ``[a, b, c, a]`` (a needs b needs c needs a), from its first-declared step."""
    position = {node: index for index, node in enumerate(order)}
    color = dict.fromkeys(order, 0)  # 0 unvisited, 1 on the current path, 2 done
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in order:
        if color[start]:
            continue
        color[start] = 1
        path = [start]
        stack = [iter(needs.get(start, ()))]
        while stack:
            upstream = next(stack[-1], None)
            if upstream is None:
                stack.pop()
                color[path.pop()] = 2
            elif color.get(upstream) == 1:
                cycle = path[path.index(upstream) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
                    cycle = cycle[first:] + cycle[:first]
                    cycles.append([*cycle, cycle[0]])
            elif color.get(upstream) == 0:
                color[upstream] = 1
                path.append(upstream)
                stack.append(iter(needs.get(upstream, ())))
    return cycles


def upstream_of(node: str, needs: Mapping[str, Iterable[str]]) -> set[str]:
    """Every step ``node`` depends on, directly or transitively (terminates on cycles)."""
    found: set[str] = set()
    todo = list(needs.get(node, ()))
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(needs.get(current, ()))
    return found
