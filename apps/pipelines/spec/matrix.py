"""Matrix expansion: the product of the axes in declaration order, minus ``exclude``, plus ``include``."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from .errors import Path
from .report import Issues

RESERVED = ("include", "exclude", "max_parallel", "fail_fast")
MAX_COMBINATIONS = 256
_VALUE = re.compile(r"^[^\s\[\],='\"]{1,64}$")


def value_text(value: Any) -> str:
    """How a matrix value appears in ids and in ``matrix.<axis>``: always a string (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def child_id(base: str, combination: dict[str, str]) -> str:
    """``unit[py=3.12,os=linux]``: the base id plus every axis value, in axis order."""
    return f"{base}[{','.join(f'{axis}={value}' for axis, value in combination.items())}]"


def expand(raw: dict[str, Any], path: Path, issues: Issues) -> list[dict[str, str]]:
    """The combinations of one step's matrix, each mapping axis -> value text; problems are reported."""
    axes: dict[str, list[str]] = {}
    for axis, values in raw.items():
        if axis in RESERVED or not isinstance(values, list):
            continue
        axes[axis] = _axis_values(values, (*path, axis), issues)
        if not values:
            issues.add_semantic((*path, axis), f"matrix axis {axis!r} has no values")
    if not axes:
        issues.add_semantic(path, "a matrix needs at least one axis (name: [values...])")
        return []
    if not all(axes.values()):
        return []
    size = math.prod(len(values) for values in axes.values())
    if size > MAX_COMBINATIONS:
        issues.add_semantic(path, f"the matrix has {size} combinations (at most {MAX_COMBINATIONS})")
        return []
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    for index, entry in enumerate(_entries(raw.get("exclude"))):
        rule = _entry(entry, axes, (*path, "exclude", index), issues)
        if rule is not None:
            combos = [c for c in combos if any(c[axis] != value for axis, value in rule.items())]
    for index, entry in enumerate(_entries(raw.get("include"))):
        where = (*path, "include", index)
        rule = _entry(entry, axes, where, issues)
        if rule is None:
            continue
        missing = [axis for axis in axes if axis not in rule]
        if missing:
            issues.add_semantic(
                where, f"an include entry must set every axis (missing {', '.join(map(repr, missing))})"
            )
            continue
        combination = {axis: rule[axis] for axis in axes}
        if combination not in combos:
            combos.append(combination)
    if not combos:
        issues.add_semantic(path, "the matrix expands to no combinations (everything is excluded)")
    return combos


def _entries(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _axis_values(values: list[Any], path: Path, issues: Issues) -> list[str]:
    texts: list[str] = []
    for index, value in enumerate(values):
        text = value_text(value)
        if not _VALUE.match(text):
            issues.add_semantic((*path, index), f"invalid matrix value {text!r}: no spaces, quotes, [ ] , or =")
        elif text in texts:
            issues.add_semantic((*path, index), f"duplicate matrix value {text!r}")
        else:
            texts.append(text)
    return texts


def _entry(entry: Any, axes: dict[str, list[str]], path: Path, issues: Issues) -> dict[str, str] | None:
    if not isinstance(entry, dict):
        return None
    rule: dict[str, str] = {}
    ok = True
    for axis, value in entry.items():
        if axis not in axes:
            issues.add_semantic((*path, axis), f"unknown matrix axis {axis!r} (axes: {', '.join(axes)})", key=True)
            ok = False
        elif not isinstance(value, str | int | float | bool):
            ok = False
        elif not _VALUE.match(value_text(value)):
            issues.add_semantic(
                (*path, axis), f"invalid matrix value {value_text(value)!r}: no spaces, quotes, [ ] , or ="
            )
            ok = False
        elif value_text(value) not in axes[axis] and path[-2] == "exclude":
            issues.add_semantic((*path, axis), f"{value_text(value)!r} is not a value of axis {axis!r}")
            ok = False
        else:
            rule[axis] = value_text(value)
    return rule if ok else None
