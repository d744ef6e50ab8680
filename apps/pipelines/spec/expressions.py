"""Expressions and templates: Jinja2's sandbox with strict undefined names, plus static reference checks.

Contexts are plain mappings with the keys ``inputs``, ``vars``, ``steps`` (step id -> ``{"status", "outputs"}``),
``execution``, ``matrix`` and ``trigger``. Nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from .errors import ExpressionError

CONTEXT_ROOTS = ("inputs", "vars", "steps", "execution", "matrix", "trigger")
STEP_ATTRIBUTES = ("status", "outputs")
MAX_RESULT = 1024 * 1024
_FALSE_WORDS = {"", "false", "0", "no", "off", "none", "null"}
_WRAPPED = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class _Environment(SandboxedEnvironment):
    """The sandbox, with repetition and powers bounded so an expression cannot exhaust memory or CPU."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_number(left) and _is_number(right) and (abs(right) > 64 or abs(left) > 1 << 32):
            raise jinja2.sandbox.SecurityError("power too large")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and _is_number(count) and len(seq) * count > MAX_RESULT:
                    raise jinja2.sandbox.SecurityError("repetition result too large")
        return super().call_binop(context, operator, left, right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


MAX_RANGE = 10_000


def _range(*args: int) -> range:
    """``range`` bounded more tightly than the sandbox's default, as loops may nest."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise jinja2.sandbox.SecurityError(f"range longer than {MAX_RANGE}")
    return numbers


_ENV = _Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_ENV.globals["range"] = _range
_JINJA_GLOBALS = frozenset(_ENV.globals) | {"loop"}


def _expression_text(expr: str) -> str | None:
    """The bare expression of a condition written as ``x == 1`` or ``{{ x == 1 }}``; None for a template."""
    match = _WRAPPED.match(expr)
    if match:
        inner = match.group("expr")
        return None if "{{" in inner or "}}" in inner else inner
    return None if "{%" in expr or "{{" in expr or "{#" in expr else expr


@functools.lru_cache(maxsize=512)
def _template(text: str) -> jinja2.Template:
    return _ENV.from_string(text)


@functools.lru_cache(maxsize=512)
def _expression(text: str) -> Any:
    return _ENV.compile_expression(text, undefined_to_none=False)


def _error(exc: Exception) -> ExpressionError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return ExpressionError(f"syntax error: {exc.message}")
    if isinstance(exc, jinja2.UndefinedError):
        return ExpressionError(f"undefined: {exc.message}")
    if isinstance(exc, jinja2.sandbox.SecurityError):
        return ExpressionError(f"not allowed: {exc}")
    return ExpressionError(f"{type(exc).__name__}: {exc}")


def render_template(text: str, context: Mapping[str, Any]) -> str:
    """Render ``text`` as a sandboxed Jinja2 template; unknown names raise ExpressionError."""
    try:
        result = _template(text).render(dict(context))
    except ExpressionError:
        raise
    except Exception as exc:  # anything the template does wrong is the template's error, never ours
        raise _error(exc) from exc
    if len(result) > MAX_RESULT:
        raise ExpressionError("rendered text is larger than 1 MiB")
    return result


def evaluate_condition(expr: str | bool, context: Mapping[str, Any]) -> bool:
    """Evaluate an ``if:`` condition, written with or without ``{{ }}``.

    A string result counts as false when it is empty or one of false/0/no/off/none/null (any case), so a
    template such as ``{{ matrix.debug }}`` behaves as expected.
    """
    if isinstance(expr, bool):
        return expr
    bare = _expression_text(expr)
    try:
        value = _expression(bare)(**dict(context)) if bare is not None else render_template(expr, context)
        if isinstance(value, str):
            return value.strip().lower() not in _FALSE_WORDS
        return bool(value)
    except ExpressionError:
        raise
    except Exception as exc:
        raise _error(exc) from exc


def render_value(value: Any, context: Mapping[str, Any], *, literal_fields: frozenset[str] = frozenset()) -> Any:
    """Render every string inside ``value`` (dicts, lists) as a template; top-level ``literal_fields`` are kept."""
    if isinstance(value, str):
        return render_template(value, context) if "{" in value else value
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {k: v if k in literal_fields else render_value(v, context) for k, v in value.items()}
    return value


# --- static analysis -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A name path read by an expression, e.g. ``steps['unit'].outputs.x`` -> root steps, parts [unit, outputs, x]."""

    root: str
    parts: tuple[str | int, ...]


def parse(text: str, *, condition: bool = False) -> nodes.Node:
    """Parse a template (or a condition) into Jinja's AST; raises ExpressionError on a syntax error."""
    try:
        bare = _expression_text(text) if condition else None
        if bare is None:
            _template(text)  # compiling also catches unknown filters and tests
            return _ENV.parse(text)
        _expression(bare)
        return Parser(_ENV, bare, state="variable").parse_expression()
    except jinja2.TemplateSyntaxError as exc:
        raise _error(exc) from exc
    except RecursionError as exc:
        raise ExpressionError("expression is nested too deeply") from exc


_DYNAMIC = object()


def references(tree: nodes.Node) -> list[Reference]:
    """Every context lookup in the tree, with constant attribute/item chains followed as far as they go."""
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    found: list[Reference] = []
    for ref in _walk(tree):
        if ref.root not in local and ref.root not in _JINJA_GLOBALS:
            found.append(ref)
    return found


def _walk(node: nodes.Node) -> Iterator[Reference]:
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        parts: list[Any] = []
        current: nodes.Node = node
        while isinstance(current, nodes.Getattr | nodes.Getitem):
            if isinstance(current, nodes.Getattr):
                parts.append(current.attr)
            else:
                key = current.arg.value if isinstance(current.arg, nodes.Const) else _DYNAMIC
                parts.append(key if isinstance(key, str | int) and not isinstance(key, bool) else _DYNAMIC)
                if not isinstance(current.arg, nodes.Const):
                    yield from _walk(current.arg)
            current = current.node
        if isinstance(current, nodes.Name):
            parts.reverse()
            cut = parts.index(_DYNAMIC) if _DYNAMIC in parts else len(parts)
            yield Reference(current.name, tuple(parts[:cut]))
        else:
            yield from _walk(current)
        return
    if isinstance(node, nodes.Name):
        if node.ctx == "load":
            yield Reference(node.name, ())
        return
    for child in node.iter_child_nodes():
        yield from _walk(child)


@dataclass
class Scope:
    """What an expression at one place of the document may read."""

    roots: frozenset[str]
    inputs: frozenset[str] = frozenset()
    variables: frozenset[str] = frozenset()
    axes: frozenset[str] = frozenset()
    # every step id (base ids and concrete matrix ids) -> (base id, declared outputs, is a matrix base id)
    steps: dict[str, tuple[str, frozenset[str], bool]] = field(default_factory=dict)
    upstream: frozenset[str] = frozenset()  # base ids this expression's step depends on, transitively
    example_child: dict[str, str] = field(default_factory=dict)


def check_references(tree: nodes.Node, scope: Scope) -> list[str]:
    """Problems with the names an expression reads: unknown inputs/vars/steps/outputs, steps not upstream."""
    problems: list[str] = []
    for ref in references(tree):
        problem = _check(ref, scope)
        if problem and problem not in problems:
            problems.append(problem)
    return problems


def _check(ref: Reference, scope: Scope) -> str | None:
    if ref.root not in scope.roots:
        if ref.root in CONTEXT_ROOTS:
            return f"{ref.root!r} is not available here"
        return f"unknown name {ref.root!r} (expected one of {', '.join(sorted(scope.roots))})"
    head = ref.parts[0] if ref.parts else None
    if ref.root == "inputs" and head is not None and head not in scope.inputs:
        return f"unknown input {head!r}"
    if ref.root == "vars" and head is not None and head not in scope.variables:
        return f"unknown variable {head!r}"
    if ref.root == "matrix" and head is not None and head not in scope.axes:
        return f"unknown matrix axis {head!r}" if scope.axes else "this step has no matrix"
    if ref.root == "steps" and head is not None:
        return _check_step(ref.parts, scope)
    return None


def _check_step(parts: tuple[str | int, ...], scope: Scope) -> str | None:
    step_id = parts[0]
    if not isinstance(step_id, str) or step_id not in scope.steps:
        return f"unknown step {step_id!r}"
    base, outputs, is_matrix = scope.steps[step_id]
    if is_matrix:
        example = scope.example_child.get(step_id, f"{step_id}[axis=value]")
        return f"step {step_id!r} has a matrix: address a child, e.g. steps[{example!r}]"
    if base not in scope.upstream:
        return f"step {step_id!r} is not upstream of this step (add it to needs)"
    if len(parts) > 1 and parts[1] not in STEP_ATTRIBUTES:
        return f"unknown step attribute {parts[1]!r} (expected status or outputs)"
    if len(parts) > 2 and parts[1] == "outputs" and parts[2] not in outputs:
        return f"step {base!r} declares no output {parts[2]!r}"
    return None
