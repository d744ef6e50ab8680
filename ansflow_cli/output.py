"""Tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


def print_json(value: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def print_json_line(value: Any, out: TextIO | None = None) -> None:
    """One compact JSON object per line (JSON Lines), for streams a script reads as they come."""
    out = out or sys.stdout
    out.write(json.dumps(value, sort_keys=True, default=str) + "\n")
    out.flush()


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value).replace("\n", " ")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], out: TextIO | None = None) -> None:
    """``columns`` are (heading, key) pairs; every column is as wide as its widest cell."""
    out = out or sys.stdout
    cells = [[_cell(row.get(key)) for _, key in columns] for row in rows]
    widths = [max([len(heading)] + [len(line[i]) for line in cells]) for i, (heading, _) in enumerate(columns)]
    out.write("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def print_spec_errors(filename: str, errors: Sequence[dict[str, Any]], out: TextIO | None = None) -> None:
    """``FILE:LINE:COLUMN: path: message``, the way compilers and linters print them."""
    out = out or sys.stderr
    for issue in errors:
        where = f"{filename}:{issue.get('line') or 0}:{issue.get('column') or 0}"
        path = ".".join(str(p) for p in issue.get("path") or []) or "(document)"
        out.write(f"{where}: {path}: {issue.get('message')}\n")
