"""Templates and conditions: sandboxed Jinja2, strict names, conditions with or without {{ }}."""

from __future__ import annotations

from typing import Any

import pytest

from apps.pipelines.spec import ExpressionError, evaluate_condition, render_template, render_value

CONTEXT: dict[str, Any] = {
    "inputs": {"version": "v1.2", "replicas": 3, "dry_run": False},
    "vars": {"REGISTRY": "registry.local:5000"},
    "steps": {
        "build": {"status": "success", "outputs": {"digest": "sha256:abc"}},
        "smoke": {"status": "failed", "outputs": {}},
        "unit[py=3.12]": {"status": "success", "outputs": {"coverage": "91"}},
    },
    "execution": {"id": 7, "number": 3},
    "matrix": {"py": "3.12", "debug": "false"},
    "trigger": {"kind": "manual", "actor": "alice"},
}


def test_render_template_reads_every_context() -> None:
    text = "{{ vars.REGISTRY }}/web:{{ inputs.version }} {{ steps.build.outputs.digest }} #{{ execution.number }}"
    assert render_template(text, CONTEXT) == "registry.local:5000/web:v1.2 sha256:abc #3"
    assert render_template("{{ steps['unit[py=3.12]'].outputs.coverage }}%", CONTEXT) == "91%"
    assert render_template("py{{ matrix.py }} by {{ trigger.actor }}", CONTEXT) == "py3.12 by alice"


def test_render_keeps_text_without_html_escaping() -> None:
    assert render_template("{{ '<a & b>' }}", {}) == "<a & b>"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("steps.smoke.status == 'failed'", True),
        ("{{ steps.smoke.status == 'failed' }}", True),
        ("  {{ steps.build.status != 'success' }}  ", False),
        ("inputs.replicas > 2 and not inputs.dry_run", True),
        ("inputs.dry_run", False),
        ("matrix.debug", False),  # the string "false" counts as false
        ("{{ matrix.py }}", True),
        ("{% if inputs.replicas > 5 %}yes{% endif %}", False),
        ("steps.build.outputs.digest.startswith('sha256:')", True),
        ("'coverage' in steps['unit[py=3.12]'].outputs", True),
        ("inputs.version[:1] == 'v'", True),
        ("true", True),
        ("range(3) | list | length == 3", True),
        ("{{ '' }}", False),
    ],
)
def test_evaluate_condition(expr: str, expected: bool) -> None:
    assert evaluate_condition(expr, CONTEXT) is expected


def test_boolean_conditions_pass_through() -> None:
    assert evaluate_condition(True, {}) is True
    assert evaluate_condition(False, CONTEXT) is False


@pytest.mark.parametrize(
    "expr",
    [
        "inputs.nope == 1",  # unknown input
        "steps.deploy.status == 'success'",  # unknown step
        "steps.smoke.outputs.version",  # undeclared output at run time
        "nosuchname",
    ],
)
def test_unknown_names_raise(expr: str) -> None:
    with pytest.raises(ExpressionError, match="undefined"):
        evaluate_condition(expr, CONTEXT)
    with pytest.raises(ExpressionError, match="undefined"):
        render_template("{{ " + expr + " }}", CONTEXT)


def test_syntax_errors_raise() -> None:
    with pytest.raises(ExpressionError, match="syntax error"):
        evaluate_condition("inputs.replicas >", CONTEXT)
    with pytest.raises(ExpressionError, match="syntax error"):
        render_template("{{ inputs.version ", CONTEXT)
    with pytest.raises(ExpressionError, match="syntax error"):
        evaluate_condition("", CONTEXT)


@pytest.mark.parametrize(
    "expr",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "inputs.__init__.__globals__",
        "range.__call__.__globals__",
        "cycler.__init__.__globals__.os",
        "'x' * 100000000",
        "2 ** 100000",
        "range(10 ** 7) | list | length",
        "range(20000) | list | length",
    ],
)
def test_sandbox_refuses_unsafe_or_huge_operations(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate_condition(expr, CONTEXT)


def test_render_value_renders_nested_strings_but_not_literal_fields() -> None:
    value = {
        "url": "http://x/{{ inputs.version }}",
        "json": {"n": ["{{ inputs.replicas }}", 2]},
        "outputs": {"a": "{{x}}"},
    }
    rendered = render_value(value, CONTEXT, literal_fields=frozenset({"outputs"}))
    assert rendered == {"url": "http://x/v1.2", "json": {"n": ["3", 2]}, "outputs": {"a": "{{x}}"}}
