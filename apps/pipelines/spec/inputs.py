"""Run inputs: their declarations in a document and the validation/coercion of the values given to a run."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import InputError, Path
from .report import Issues

_INT = re.compile(r"^[+-]?\d{1,30}$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same(a: Any, b: Any) -> bool:
    """Equality that does not confuse True with 1."""
    return type(a) is type(b) and a == b


def coerce(decl: Mapping[str, Any], value: Any) -> Any:
    """``value`` converted to the input's type (strings from a CLI or form are parsed); ValueError if impossible."""
    kind = decl.get("type")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError("expected a string")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value.strip())
        raise ValueError(f"expected an integer, got {value!r}")
    if kind == "number":
        return _number(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = _text(value).strip().lower() if isinstance(value, str | int) else None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if kind == "choice":
        options = decl.get("enum") or []
        for option in options:
            if _same(option, value) or (isinstance(value, str) and _text(option) == value):
                return option
        raise ValueError(f"must be one of {', '.join(_text(o) for o in options)} (got {value!r})")
    raise ValueError(f"unknown input type {kind!r}")


def _number(value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return value
        raise ValueError("expected a finite number")
    if isinstance(value, str):
        text = value.strip()
        if _INT.match(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and len(text) <= 64:
            return number
    raise ValueError(f"expected a number, got {value!r}")


def check(decl: Mapping[str, Any], value: Any) -> None:
    """Raise ValueError when an already coerced value breaks the input's pattern, bounds or enum."""
    enum = decl.get("enum")
    if enum is not None and decl.get("type") != "choice" and not any(_same(o, value) for o in enum):
        raise ValueError(f"must be one of {', '.join(_text(o) for o in enum)} (got {value!r})")
    pattern = decl.get("pattern")
    if pattern is not None and isinstance(value, str) and re.search(pattern, value) is None:
        raise ValueError(f"does not match the pattern {pattern!r}")
    minimum, maximum = decl.get("minimum"), decl.get("maximum")
    if minimum is not None and isinstance(value, int | float) and value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if maximum is not None and isinstance(value, int | float) and value > maximum:
        raise ValueError(f"must be at most {maximum}")


def validate_inputs(spec: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The complete inputs of a run: ``given`` coerced and checked, defaults applied, missing optional ones None.

    An empty string or None counts as "not given" (as from an untouched form field). Raises InputError whose
    ``errors`` maps each bad input name to a message (unknown names included).
    """
    declared: Mapping[str, Mapping[str, Any]] = spec.get("inputs") or {}
    errors: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name in given:
        if name not in declared:
            errors[str(name)] = "unknown input" + (f" (declared: {', '.join(declared)})" if declared else "")
    for name, decl in declared.items():
        value = given.get(name)
        if value is None or value == "":
            if decl.get("default") is not None:
                result[name] = decl["default"]
            elif decl.get("required"):
                errors[name] = "required"
            else:
                result[name] = None
            continue
        try:
            value = coerce(decl, value)
            check(decl, value)
        except ValueError as exc:
            errors[name] = str(exc)
        else:
            result[name] = value
    if errors:
        raise InputError(errors)
    return result


def normalise_inputs(raw: Any, issues: Issues) -> dict[str, dict[str, Any]]:
    """Declarations in normalised form; bad patterns, enums, bounds and defaults are reported."""
    if not isinstance(raw, dict):
        return {}
    return {name: _declaration(decl, ("spec", "inputs", name), issues) for name, decl in raw.items()}


def _declaration(raw: Any, path: Path, issues: Issues) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    kind = raw.get("type") if isinstance(raw.get("type"), str) else None
    decl: dict[str, Any] = {
        "type": kind,
        "default": None,
        "required": raw.get("required") is True,
        "pattern": None,
        "minimum": None,
        "maximum": None,
        "enum": None,
        "description": raw.get("description") if isinstance(raw.get("description"), str) else "",
    }
    for key, allowed in (
        ("pattern", {"string"}),
        ("minimum", {"integer", "number"}),
        ("maximum", {"integer", "number"}),
    ):
        if raw.get(key) is not None:
            if not isinstance(raw[key], str if key == "pattern" else int | float) or isinstance(raw[key], bool):
                continue  # the schema reports the wrong type
            if kind in allowed:
                decl[key] = raw[key]
            else:
                issues.add_semantic((*path, key), f"{key} applies only to {' and '.join(sorted(allowed))} inputs")
    if isinstance(decl["pattern"], str):
        try:
            re.compile(decl["pattern"])
        except re.error as exc:
            issues.add_semantic((*path, "pattern"), f"invalid regular expression: {exc}")
            decl["pattern"] = None
    _bounds(decl, path, issues)
    _enum(raw, decl, path, issues)
    if raw.get("default") is not None:
        try:
            decl["default"] = coerce(decl, raw["default"])
            check(decl, decl["default"])
        except ValueError as exc:
            issues.add_semantic((*path, "default"), f"default {raw['default']!r} is invalid: {exc}")
    return decl


def _bounds(decl: dict[str, Any], path: Path, issues: Issues) -> None:
    low, high = decl["minimum"], decl["maximum"]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
    if numbers and low > high:
        issues.add_semantic((*path, "maximum"), f"maximum {high} is below minimum {low}")


def _enum(raw: dict[str, Any], decl: dict[str, Any], path: Path, issues: Issues) -> None:
    enum = raw.get("enum")
    if not isinstance(enum, list) or not enum:
        if decl["type"] == "choice":
            issues.add_semantic(path, "a choice input needs an enum listing its options")
        return
    if decl["type"] == "choice":
        decl["enum"] = list(enum)
        return
    if decl["type"] == "boolean":
        issues.add_semantic((*path, "enum"), "enum does not apply to boolean inputs")
        return
    values = []
    for index, option in enumerate(enum):
        try:
            values.append(coerce(decl, option))
        except ValueError as exc:
            issues.add_semantic((*path, "enum", index), f"enum value {option!r} is invalid: {exc}")
    decl["enum"] = values
