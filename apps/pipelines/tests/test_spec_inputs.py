"""Run inputs: coercion of CLI/form strings, defaults, required, pattern, bounds, enum and unknown names."""

from __future__ import annotations

from typing import Any

import pytest

from apps.pipelines.spec import InputError, validate_inputs

from .spec_helpers import parse

SPEC = parse(
    """
    spec:
      inputs:
        version: {type: string, required: true, pattern: '^v[0-9]+'}
        replicas: {type: integer, default: 2, minimum: 1, maximum: 10}
        ratio: {type: number, minimum: 0, maximum: 1}
        dry_run: {type: boolean, default: false}
        env: {type: choice, enum: [dev, staging, prod], default: dev}
        size: {type: choice, enum: [1, 2, 4]}
        region: {type: string, enum: [eu, us]}
        note: {type: string}
      steps: [{id: a, type: shell, run: echo}]
    """
)


def test_defaults_applied_and_missing_optional_inputs_are_none() -> None:
    assert validate_inputs(SPEC, {"version": "v1"}) == {
        "version": "v1",
        "replicas": 2,
        "ratio": None,
        "dry_run": False,
        "env": "dev",
        "size": None,
        "region": None,
        "note": None,
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"replicas": "3"}, {"replicas": 3}),
        ({"replicas": 4.0}, {"replicas": 4}),
        ({"ratio": "0.25"}, {"ratio": 0.25}),
        ({"ratio": "1"}, {"ratio": 1}),
        ({"dry_run": "true"}, {"dry_run": True}),
        ({"dry_run": "False"}, {"dry_run": False}),
        ({"dry_run": "yes"}, {"dry_run": True}),
        ({"dry_run": 0}, {"dry_run": False}),
        ({"size": "4"}, {"size": 4}),
        ({"size": 2}, {"size": 2}),
        ({"env": "prod"}, {"env": "prod"}),
        ({"note": 5}, {"note": "5"}),
        ({"replicas": ""}, {"replicas": 2}),  # an empty form field means "not given"
    ],
)
def test_coercion(given: dict[str, Any], expected: dict[str, Any]) -> None:
    result = validate_inputs(SPEC, {"version": "v2", **given})
    assert {k: result[k] for k in expected} == expected
    assert all(type(result[k]) is type(v) for k, v in expected.items())


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        ({}, {"version": "required"}),
        ({"version": "1.0"}, {"version": "does not match the pattern '^v[0-9]+'"}),
        ({"version": "v1", "replicas": "three"}, {"replicas": "expected an integer, got 'three'"}),
        ({"version": "v1", "replicas": True}, {"replicas": "expected an integer, got True"}),
        ({"version": "v1", "replicas": "0"}, {"replicas": "must be at least 1"}),
        ({"version": "v1", "replicas": 11}, {"replicas": "must be at most 10"}),
        ({"version": "v1", "ratio": "nan"}, {"ratio": "expected a number, got 'nan'"}),
        ({"version": "v1", "dry_run": "maybe"}, {"dry_run": "expected true or false, got 'maybe'"}),
        ({"version": "v1", "env": "qa"}, {"env": "must be one of dev, staging, prod (got 'qa')"}),
        ({"version": "v1", "size": True}, {"size": "must be one of 1, 2, 4 (got True)"}),
        ({"version": "v1", "region": "ap"}, {"region": "must be one of eu, us (got 'ap')"}),
        (
            {"version": "v1", "verison": "v2"},
            {"verison": "unknown input (declared: " + ", ".join(SPEC["inputs"]) + ")"},
        ),
        ({"version": ["v1"]}, {"version": "expected a string"}),
    ],
)
def test_errors(given: dict[str, Any], errors: dict[str, str]) -> None:
    with pytest.raises(InputError) as caught:
        validate_inputs(SPEC, given)
    assert caught.value.errors == errors


def test_all_input_errors_at_once() -> None:
    with pytest.raises(InputError) as caught:
        validate_inputs(SPEC, {"replicas": "x", "extra": 1})
    assert set(caught.value.errors) == {"version", "replicas", "extra"}
    assert "replicas: expected an integer" in str(caught.value)


def test_pipeline_without_inputs() -> None:
    spec = parse("spec:\n  steps: [{id: a, type: shell, run: echo}]\n")
    assert validate_inputs(spec, {}) == {}
    with pytest.raises(InputError) as caught:
        validate_inputs(spec, {"x": "1"})
    assert caught.value.errors == {"x": "unknown input"}
