"""Steps: ids, needs, cycles, matrix expansion, per-kind ``with``, env secrets, retry/timeout and expressions."""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import expressions, graph, matrix
from .errors import ExpressionError, Path
from .report import Issues
from .schema import STEP_ID
from .steps import STEP_KINDS, StepKind, WithCheck

DEFAULT_RETRY_ON = ("failed", "timed_out", "lost")
MAX_CONCRETE_STEPS = 2000
_STEP_ID = re.compile(STEP_ID)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def default_retry() -> dict[str, Any]:
    return {"max": 0, "backoff": 0.0, "factor": 2.0, "max_backoff": None, "on": list(DEFAULT_RETRY_ON)}


def duration(value: Any, path: Path, issues: Issues, *, positive: bool = True) -> float | None:
    return WithCheck(issues, ()).duration(value, path, positive=positive)


def normalise_retry(raw: Any, base: dict[str, Any], path: Path, issues: Issues) -> dict[str, Any]:
    """``raw`` (a mapping or just the max count) merged key by key over ``base``."""
    retry = {**base, "on": list(base["on"])}
    if isinstance(raw, int) and not isinstance(raw, bool):
        retry["max"] = raw
    if not isinstance(raw, dict):
        return retry
    if isinstance(raw.get("max"), int) and not isinstance(raw["max"], bool):
        retry["max"] = raw["max"]
    if "backoff" in raw:
        retry["backoff"] = duration(raw["backoff"], (*path, "backoff"), issues, positive=False) or 0.0
    if "max_backoff" in raw:
        retry["max_backoff"] = duration(raw["max_backoff"], (*path, "max_backoff"), issues)
    if isinstance(raw.get("factor"), int | float) and not isinstance(raw["factor"], bool):
        retry["factor"] = float(raw["factor"])
    if isinstance(raw.get("on"), list):
        retry["on"] = [reason for reason in raw["on"] if isinstance(reason, str)]
    return retry


@dataclass
class Context:
    """What the steps are checked against: the rest of the (normalised) document."""

    issues: Issues
    inputs: frozenset[str]
    variables: frozenset[str]
    credentials: frozenset[str]
    timeout: float | None
    retry: dict[str, Any]


@dataclass
class _Step:
    index: int
    raw: dict[str, Any]
    id: str
    kind: StepKind | None
    is_matrix: bool
    combos: list[dict[str, str]]
    outputs: list[str]
    needs: list[str] = field(default_factory=list)  # base ids, for the graph
    concrete_needs: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return ("spec", "steps", self.index)

    def child_ids(self) -> list[str]:
        return [matrix.child_id(self.id, combo) for combo in self.combos] if self.is_matrix else [self.id]


def build_steps(raw_steps: Any, ctx: Context) -> list[dict[str, Any]]:
    steps = _collect(raw_steps, ctx.issues)
    by_id = {step.id: step for step in steps}
    children = {child: step.id for step in steps if step.is_matrix for child in step.child_ids()}
    for step in steps:
        _resolve_needs(step, by_id, children, ctx.issues)
    needs = {step.id: step.needs for step in steps}
    for cycle in graph.find_cycles([step.id for step in steps], needs):
        step = by_id[cycle[0]]
        index = next(
            j
            for j, name in enumerate(step.raw["needs"])
            if isinstance(name, str) and children.get(name, name) == cycle[1]
        )
        ctx.issues.add_semantic((*step.path, "needs", index), "dependency cycle: " + " -> ".join(cycle))
    scope_steps: dict[str, tuple[str, frozenset[str], bool]] = {}
    example: dict[str, str] = {}
    for step in steps:
        outputs = frozenset(step.outputs)
        scope_steps[step.id] = (step.id, outputs, step.is_matrix)
        if step.is_matrix and step.combos:
            example[step.id] = step.child_ids()[0]
            scope_steps.update({child: (step.id, outputs, False) for child in step.child_ids()})
    result: list[dict[str, Any]] = []
    for step in steps:
        scope = expressions.Scope(
            roots=frozenset(expressions.CONTEXT_ROOTS),
            inputs=ctx.inputs,
            variables=ctx.variables,
            axes=frozenset(step.combos[0]) if step.is_matrix and step.combos else frozenset(),
            steps=scope_steps,
            upstream=frozenset(graph.upstream_of(step.id, needs)),
            example_child=example,
        )
        result.extend(_normalise(step, scope, ctx))
    if len(result) > MAX_CONCRETE_STEPS:
        ctx.issues.add_semantic(
            ("spec", "steps"), f"{len(result)} steps after matrix expansion (at most {MAX_CONCRETE_STEPS})"
        )
    return result


def _collect(raw_steps: Any, issues: Issues) -> list[_Step]:
    steps: list[_Step] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not _STEP_ID.match(raw["id"]):
            continue
        step_id = raw["id"]
        if step_id in first:
            issues.add_semantic(
                ("spec", "steps", index, "id"), f"duplicate step id {step_id!r} (also steps[{first[step_id]}])"
            )
            continue
        first[step_id] = index
        kind = STEP_KINDS.get(raw.get("type"))  # type: ignore[arg-type]
        is_matrix = isinstance(raw.get("matrix"), dict)
        combos = matrix.expand(raw["matrix"], ("spec", "steps", index, "matrix"), issues) if is_matrix else [{}]
        declared = [name for name in _list(raw.get("outputs")) if isinstance(name, str)]
        with_: dict[str, Any] = raw["with"] if isinstance(raw.get("with"), dict) else {}
        extra = [name for name in (kind.outputs(with_) if kind else []) if name not in declared]
        steps.append(_Step(index, raw, step_id, kind, is_matrix, combos, declared + extra))
    return steps


def _resolve_needs(step: _Step, by_id: dict[str, _Step], children: dict[str, str], issues: Issues) -> None:
    raw_needs = step.raw.get("needs")
    for index, name in enumerate(raw_needs if isinstance(raw_needs, list) else []):
        if not isinstance(name, str):
            continue
        if name in by_id:
            base, concrete = name, by_id[name].child_ids()
        elif name in children:
            base, concrete = children[name], [name]
        else:
            hint = difflib.get_close_matches(name, list(by_id), n=1)
            issues.add_semantic(
                (*step.path, "needs", index),
                f"unknown step {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
            )
            continue
        if base not in step.needs:
            step.needs.append(base)
        step.concrete_needs.extend(c for c in concrete if c not in step.concrete_needs)


def _normalise(step: _Step, scope: expressions.Scope, ctx: Context) -> list[dict[str, Any]]:
    raw, path, issues = step.raw, step.path, ctx.issues
    kind = step.kind
    if kind is not None and kind.run == "forbidden" and "run" in raw:
        issues.add_semantic((*path, "run"), f"{kind.name} steps do not take `run` (use `with`)", key=True)
    with_raw: dict[str, Any] = raw["with"] if isinstance(raw.get("with"), dict) else {}
    with_ = kind.normalise(with_raw, WithCheck(issues, (*path, "with"))) if kind else dict(with_raw)
    for where, text in _strings(with_raw, (*path, "with"), kind.literal_fields if kind else frozenset()):
        check_template(text, where, scope, issues)
    env = _env(raw.get("env"), path, scope, ctx)
    condition = raw.get("if")
    if isinstance(condition, bool):
        condition = "true" if condition else "false"
    elif isinstance(condition, str):
        check_template(condition, (*path, "if"), scope, issues, condition=True)
    else:
        condition = None
    timeout = duration(raw["timeout"], (*path, "timeout"), issues) if "timeout" in raw else ctx.timeout
    retry = normalise_retry(raw.get("retry"), ctx.retry, (*path, "retry"), issues)
    group = None
    if step.is_matrix:
        settings = raw["matrix"]
        max_parallel = settings.get("max_parallel")
        group = {
            "max_parallel": max_parallel
            if isinstance(max_parallel, int) and not isinstance(max_parallel, bool)
            else None,
            "fail_fast": settings.get("fail_fast", True) is not False,
        }
    common = {
        "base_id": step.id,
        "type": raw.get("type"),
        "needs": step.concrete_needs,
        "run": raw.get("run") if isinstance(raw.get("run"), str) else None,
        "with": with_,
        "env": env,
        "when": raw.get("when", "on_success"),
        "if": condition,
        "retry": retry,
        "timeout": timeout,
        "on_failure": raw.get("on_failure", "abort"),
        "outputs": step.outputs,
        "matrix_group": group,
    }
    return [
        {"id": child, **copy.deepcopy(common), "matrix": dict(combo)}
        for child, combo in zip(step.child_ids(), step.combos, strict=True)
    ]


def _env(raw: Any, path: Path, scope: expressions.Scope, ctx: Context) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for name, value in (raw if isinstance(raw, dict) else {}).items():
        where = (*path, "env", name)
        if isinstance(value, dict):
            secret = value.get("secret")
            if isinstance(secret, str) and "." in secret:
                credential = secret.split(".", 1)[0]
                if credential not in ctx.credentials:
                    ctx.issues.add_semantic(
                        (*where, "secret"), f"credential {credential!r} is not listed in spec.credentials"
                    )
            env[name] = {"secret": secret}
        elif isinstance(value, str):
            check_template(value, where, scope, ctx.issues)
            env[name] = value
        else:
            env[name] = matrix.value_text(value)
    return env


def _strings(value: Any, path: Path, literal: frozenset[str]) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index), frozenset())
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in literal:
                yield from _strings(item, (*path, key), frozenset())


def check_template(text: str, path: Path, scope: expressions.Scope, issues: Issues, *, condition: bool = False) -> None:
    """Report a template's syntax errors and bad references at ``path``."""
    if not condition and "{" not in text:
        return
    try:
        tree = expressions.parse(text, condition=condition)
    except ExpressionError as exc:
        issues.add_semantic(path, f"invalid expression: {exc}")
        return
    for problem in expressions.check_references(tree, scope):
        issues.add_semantic(path, problem)
