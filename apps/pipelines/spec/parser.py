"""``parse_pipeline``: YAML text in, the normalised spec out (or every problem at once in a SpecError)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import expressions, inputs, loader
from .build import Context, build_steps, check_template, default_retry, duration, normalise_retry
from .errors import SpecError
from .matrix import value_text
from .report import Issues
from .schema import API_VERSION, check_schema
from .triggers import normalise_triggers


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text_map(value: Any) -> dict[str, str]:
    return {k: value_text(v) for k, v in _dict(value).items() if isinstance(v, str | int | float | bool)}


def parse_pipeline(text: str | bytes, *, credentials: Collection[str] | None = None) -> dict[str, Any]:
    """Parse and validate an ``ansflow/v1`` document; return its normalised, JSON-serialisable form.

    ``credentials`` are the names of the project's credentials; None skips that check. Raises SpecError with
    every issue found (path, line, column, message).
    """
    issues = Issues()
    doc = loader.load(text, issues)
    if doc is loader.FAILED:
        raise SpecError(issues.sorted())
    check_schema(doc, issues)
    result = _normalise(_dict(doc), credentials, issues)
    if issues:
        raise SpecError(issues.sorted())
    return result


def _normalise(doc: dict[str, Any], project_credentials: Collection[str] | None, issues: Issues) -> dict[str, Any]:
    metadata, spec = _dict(doc.get("metadata")), _dict(doc.get("spec"))
    declared_inputs = inputs.normalise_inputs(spec.get("inputs"), issues)
    variables = _text_map(spec.get("variables"))
    names = (
        [c for c in spec.get("credentials") or [] if isinstance(c, str)]
        if isinstance(spec.get("credentials"), list)
        else []
    )
    if project_credentials is not None:
        known = set(project_credentials)
        for index, name in enumerate(names):
            if name not in known:
                issues.add_semantic(
                    ("spec", "credentials", index), f"unknown credential {name!r} (not in this project)"
                )
    header_scope = expressions.Scope(
        roots=frozenset({"inputs", "vars", "execution", "trigger"}),
        inputs=frozenset(declared_inputs),
        variables=frozenset(variables),
    )
    variable_scope = expressions.Scope(
        roots=frozenset({"inputs", "execution", "trigger"}), inputs=frozenset(declared_inputs)
    )
    for name, value in variables.items():
        check_template(value, ("spec", "variables", name), variable_scope, issues)
    concurrency = _concurrency(spec.get("concurrency"), header_scope, issues)
    defaults = _dict(spec.get("defaults"))
    timeout = duration(defaults["timeout"], ("spec", "defaults", "timeout"), issues) if "timeout" in defaults else None
    retry = normalise_retry(defaults.get("retry"), default_retry(), ("spec", "defaults", "retry"), issues)
    context = Context(
        issues=issues,
        inputs=frozenset(declared_inputs),
        variables=frozenset(variables),
        credentials=frozenset(names),
        timeout=timeout,
        retry=retry,
    )
    return {
        "api_version": API_VERSION,
        "name": metadata.get("name") if isinstance(metadata.get("name"), str) else "",
        "project": metadata.get("project") if isinstance(metadata.get("project"), str) else None,
        "description": metadata.get("description") if isinstance(metadata.get("description"), str) else "",
        "labels": _text_map(metadata.get("labels")),
        "inputs": declared_inputs,
        "variables": variables,
        "credentials": names,
        "concurrency": concurrency,
        "defaults": {"timeout": timeout, "retry": retry},
        "steps": build_steps(spec.get("steps"), context),
        "triggers": normalise_triggers(spec.get("on"), frozenset(declared_inputs), issues),
    }


def _concurrency(raw: Any, scope: expressions.Scope, issues: Issues) -> dict[str, Any] | None:
    if isinstance(raw, str):
        raw = {"group": raw}
        where: tuple[str, ...] = ("spec", "concurrency")
    elif isinstance(raw, dict):
        where = ("spec", "concurrency", "group")
    else:
        return None
    group = raw.get("group") if isinstance(raw.get("group"), str) else ""
    check_template(group, where, scope, issues)
    limit = raw.get("limit", 1)
    return {
        "group": group,
        "limit": limit if isinstance(limit, int) and not isinstance(limit, bool) else 1,
        "cancel_in_progress": raw.get("cancel_in_progress") is True,
    }
