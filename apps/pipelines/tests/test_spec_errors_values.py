"""Invalid values are located: durations, retry reasons, input declarations, matrices, step-kind options."""

from __future__ import annotations

import pytest

from .spec_helpers import assert_error_at, doc

# (case id, document body with a » before the offending node, expected path, expected message fragment)
CASES = [
    (
        "bad-duration-text",
        """
        spec:
          defaults: {timeout: »10x}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.defaults.timeout",
        "expected a duration such as 90s",
    ),
    (
        "duration-unit-twice",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              retry: {max: 2, backoff: »1m1m}
        """,
        "spec.steps[0].retry.backoff",
        "a unit appears twice",
    ),
    (
        "zero-timeout",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, timeout: »0s}
        """,
        "spec.steps[0].timeout",
        "must be longer than zero",
    ),
    (
        "bad-retry-reason",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              retry:
                on: [failed, »exit:x]
        """,
        "spec.steps[0].retry.on[1]",
        "expected failed, timed_out, lost or exit:<code>",
    ),
    (
        "bad-integer-default",
        """
        spec:
          inputs:
            replicas: {type: integer, default: »two}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.replicas.default",
        "default 'two' is invalid: expected an integer",
    ),
    (
        "default-below-minimum",
        """
        spec:
          inputs:
            replicas: {type: integer, minimum: 1, default: »0}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.replicas.default",
        "must be at least 1",
    ),
    (
        "default-not-matching-pattern",
        """
        spec:
          inputs:
            version: {type: string, pattern: '^v[0-9]+', default: »"1.0"}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.version.default",
        "does not match the pattern",
    ),
    (
        "choice-default-not-an-option",
        """
        spec:
          inputs:
            env: {type: choice, enum: [dev, prod], default: »qa}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.env.default",
        "must be one of dev, prod",
    ),
    (
        "choice-without-enum",
        """
        spec:
          inputs:
            env: »{type: choice}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.env",
        "a choice input needs an enum",
    ),
    (
        "bad-input-pattern",
        """
        spec:
          inputs:
            v: {type: string, pattern: »"([a"}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.inputs.v.pattern",
        "invalid regular expression",
    ),
    (
        "empty-matrix-axis",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, matrix: {py: »[]}}
        """,
        "spec.steps[0].matrix.py",
        "must not be empty",
    ),
    (
        "exclude-unknown-axis",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              matrix:
                py: ["3.11", "3.12"]
                exclude: [{»pyton: "3.11"}]
        """,
        "spec.steps[0].matrix.exclude[0].pyton",
        "unknown matrix axis 'pyton'",
    ),
    (
        "include-unknown-axis",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              matrix:
                py: ["3.11"]
                include:
                  - {py: "3.13", »arch: arm}
        """,
        "spec.steps[0].matrix.include[0].arch",
        "unknown matrix axis 'arch'",
    ),
    (
        "include-missing-axis",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              matrix:
                py: ["3.11"]
                os: [linux]
                include:
                  - »{py: "3.13"}
        """,
        "spec.steps[0].matrix.include[0]",
        "must set every axis (missing 'os')",
    ),
    (
        "everything-excluded",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              matrix: »{py: ["3.11"], exclude: [{py: "3.11"}]}
        """,
        "spec.steps[0].matrix",
        "expands to no combinations",
    ),
    (
        "http-bad-url",
        """
        spec:
          steps:
            - {id: a, type: http, with: {url: »"ftp://example.test/"}}
        """,
        "spec.steps[0].with.url",
        "must be an http:// or https:// URL",
    ),
    (
        "http-unknown-with-key",
        """
        spec:
          steps:
            - {id: a, type: http, with: {url: "http://x.test", »methd: POST}}
        """,
        "spec.steps[0].with.methd",
        "did you mean 'method'?",
    ),
    (
        "approval-without-approvers",
        """
        spec:
          steps:
            - {id: a, type: approval, with: {approvers: »{roles: []}}}
        """,
        "spec.steps[0].with.approvers",
        "name at least one role or user",
    ),
]


@pytest.mark.parametrize(("case", "body", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_is_located(case: str, body: str, path: str, message: str) -> None:
    text = doc(body)
    if case == "api-version":
        text = text.replace("ansflow/v1", "»ansflow/v2")
    assert_error_at(text, path, message)
