"""Garbage in, SpecError out: random text, bytes and structurally random documents never raise anything else."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.pipelines.spec import SpecError, parse_pipeline

from .spec_helpers import errors

KEYS = [
    "id", "type", "needs", "run", "with", "env", "when", "if", "retry", "timeout", "on_failure", "matrix",
    "outputs", "include", "exclude", "max_parallel", "fail_fast", "secret", "max", "backoff", "on", "url",
    "approvers", "roles", "users", "default", "required", "pattern", "minimum", "maximum", "enum", "group",
    "expect_status", "py", "a", "b",
]  # fmt: skip
TEXTS = st.sampled_from(
    ["a", "b", "shell", "http", "approval", "python", "{{ steps.a.status }}", "{{", "10m", "x.y", "exit:3", ""]
) | st.text(max_size=8)
SCALARS = st.none() | st.booleans() | st.integers(-5, 1000) | st.floats(allow_nan=False, allow_infinity=False) | TEXTS
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=25,
)
STEP = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["a", "b", "c"]) | SCALARS,
        "type": st.sampled_from(["shell", "http", "approval"]) | SCALARS,
    },
    optional={key: VALUES for key in KEYS if key not in ("id", "type")},
)
INPUT = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean", "choice"]) | VALUES},
    optional={k: SCALARS | VALUES for k in ("default", "required", "pattern", "minimum", "maximum", "enum")},
)
DOCUMENT = st.fixed_dictionaries(
    {
        "apiVersion": st.just("ansflow/v1") | SCALARS,
        "kind": st.just("Pipeline"),
        "metadata": st.fixed_dictionaries({"name": st.just("p") | SCALARS}),
        "spec": st.fixed_dictionaries(
            {"steps": st.lists(STEP, max_size=4) | VALUES},
            optional={
                "inputs": st.dictionaries(st.sampled_from(["a", "b"]), INPUT, max_size=2) | VALUES,
                **{k: VALUES for k in ("variables", "credentials", "concurrency", "defaults")},
            },
        ),
    }
)


def _parse_or_spec_error(text: str | bytes) -> None:
    try:
        spec = parse_pipeline(text, credentials=["a"])
    except SpecError as exc:
        caught = exc
    else:
        json.dumps(spec)
        return
    assert caught.errors
    assert all(issue.line is None or issue.line >= 1 for issue in caught.errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text(text: str) -> None:
    _parse_or_spec_error(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _parse_or_spec_error(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(DOCUMENT)
def test_structurally_random_documents(document: dict[str, Any]) -> None:
    _parse_or_spec_error(yaml.safe_dump(document))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["- ", ": ", "&a ", "*a ", "[", "]", "{", "}", "\n", "  ", "'", '"', "<<", "!!", "a", "1"])
    )
)
def test_yaml_token_soup(tokens: list[str]) -> None:
    _parse_or_spec_error("".join(tokens))


def test_billion_laughs_is_refused_without_expanding() -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    [issue] = errors("\n".join(lines) + "\n")  # 9**10 strings if expanded
    assert "expands to more than 100000 nodes" in issue.message


def test_merge_key_bomb_is_refused() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3}"]
    for level in range(1, 30):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}, *m{level - 1}], k{level}: 1}}")
    [issue] = errors("\n".join(lines) + "\n")
    assert "expands to more than 100000 nodes" in issue.message
