"""Every kind of invalid document is reported with its path, YAML line/column and a clear message."""

from __future__ import annotations

import pytest

from apps.pipelines.spec import SpecIssue, parse_pipeline

from .spec_helpers import assert_error_at, doc, errors, locate

# (case id, document body with a » before the offending node, expected path, expected message fragment)
CASES = [
    (
        "unknown-key-in-step",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              »rnu: x
        """,
        "spec.steps[0].rnu",
        "unknown key 'rnu'",
    ),
    (
        "unknown-top-level-key-suggests",
        """
        spec:
          stpes: []
          »stepz: []
        """,
        "spec.stepz",
        "did you mean 'steps'?",
    ),
    (
        "wrong-type",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              needs: »a
        """,
        "spec.steps[0].needs",
        "expected list, got string",
    ),
    (
        "unknown-step-type",
        """
        spec:
          steps:
            - id: a
              type: »shel
              run: echo
        """,
        "spec.steps[0].type",
        "unknown step type 'shel'",
    ),
    (
        "missing-run",
        """
        spec:
          steps:
            - »id: a
              type: shell
        """,
        "spec.steps[0]",
        "missing required key 'run'",
    ),
    (
        "run-on-http",
        """
        spec:
          steps:
            - id: a
              type: http
              »run: curl x
              with: {url: "http://example.test/"}
        """,
        "spec.steps[0].run",
        "http steps do not take `run`",
    ),
    (
        "duplicate-step-id",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo}
            - {id: »a, type: shell, run: echo}
        """,
        "spec.steps[1].id",
        "duplicate step id 'a'",
    ),
    (
        "unknown-need",
        """
        spec:
          steps:
            - {id: build, type: shell, run: make}
            - id: test
              type: shell
              run: make test
              needs: [build, »biuld]
        """,
        "spec.steps[1].needs[1]",
        "unknown step 'biuld' (did you mean 'build'?)",
    ),
    (
        "cycle",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, needs: [»c]}
            - {id: b, type: shell, run: echo, needs: [a]}
            - {id: c, type: shell, run: echo, needs: [b]}
        """,
        "spec.steps[0].needs[0]",
        "dependency cycle: a -> c -> b -> a",
    ),
    (
        "self-need",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, needs: [»a]}
        """,
        "spec.steps[0].needs[0]",
        "dependency cycle: a -> a",
    ),
    (
        "expression-syntax",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              if: »"{{ inputs.x == }}"
        """,
        "spec.steps[0].if",
        "invalid expression: syntax error",
    ),
    (
        "unknown-filter",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              env: {X: »"{{ 'a' | nosuch }}"}
        """,
        "spec.steps[0].env.X",
        "No filter named 'nosuch'",
    ),
    (
        "unknown-step-in-expression",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              if: »steps.zz.status == 'success'
        """,
        "spec.steps[0].if",
        "unknown step 'zz'",
    ),
    (
        "step-not-upstream",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, outputs: [v]}
            - {id: b, type: shell, run: echo}
            - id: c
              type: shell
              run: echo
              needs: [b]
              if: »"{{ steps.a.outputs.v == '1' }}"
        """,
        "spec.steps[2].if",
        "step 'a' is not upstream of this step",
    ),
    (
        "undeclared-output",
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, outputs: [v]}
            - id: b
              type: shell
              run: echo
              needs: [a]
              env:
                X: »"{{ steps['a'].outputs.w }}"
        """,
        "spec.steps[1].env.X",
        "step 'a' declares no output 'w'",
    ),
    (
        "unknown-input",
        """
        spec:
          inputs: {version: {type: string}}
          steps:
            - id: a
              type: http
              with: {url: »"http://x.test/{{ inputs.verison }}"}
        """,
        "spec.steps[0].with.url",
        "unknown input 'verison'",
    ),
    (
        "unknown-variable",
        """
        spec:
          variables: {A: "1"}
          concurrency: {group: »"deploy-{{ vars.B }}"}
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.concurrency.group",
        "unknown variable 'B'",
    ),
    (
        "steps-in-concurrency-group",
        """
        spec:
          concurrency: »"{{ steps.a.status }}"
          steps: [{id: a, type: shell, run: echo}]
        """,
        "spec.concurrency",
        "'steps' is not available here",
    ),
    (
        "matrix-parent-addressed",
        """
        spec:
          steps:
            - {id: unit, type: shell, run: echo, matrix: {py: ["3.11", "3.12"]}}
            - id: b
              type: shell
              run: echo
              needs: [unit]
              if: »"steps.unit.status == 'success'"
        """,
        "spec.steps[1].if",
        "address a child, e.g. steps['unit[py=3.11]']",
    ),
    (
        "unknown-matrix-axis-in-expression",
        """
        spec:
          steps:
            - id: unit
              type: shell
              run: echo
              matrix: {py: ["3.11"]}
              env: {V: »"{{ matrix.pyhton }}"}
        """,
        "spec.steps[0].env.V",
        "unknown matrix axis 'pyhton'",
    ),
    (
        "secret-credential-not-listed",
        """
        spec:
          credentials: [registry]
          steps:
            - id: a
              type: shell
              run: echo
              env: {TOKEN: {secret: »gitlab.token}}
        """,
        "spec.steps[0].env.TOKEN.secret",
        "credential 'gitlab' is not listed in spec.credentials",
    ),
    (
        "bad-secret-reference",
        """
        spec:
          credentials: [registry]
          steps:
            - id: a
              type: shell
              run: echo
              env: {TOKEN: {secret: »registry}}
        """,
        "spec.steps[0].env.TOKEN.secret",
        "expected <credential>.<field>",
    ),
    (
        "api-version",
        """
        spec:
          steps: [{id: a, type: shell, run: echo}]
        """.replace("", ""),
        "apiVersion",
        "unsupported apiVersion",
    ),
    (
        "duplicate-yaml-key",
        """
        spec:
          steps:
            - id: a
              type: shell
              run: echo
              »run: echo again
        """,
        "spec.steps[0].run",
        "duplicate key 'run' (first defined at line 8, column 7)",
    ),
    (
        "yaml-syntax",
        """
        spec:
          steps: [{id: a, type: shell, run: echo}
        »""",
        "",
        "YAML syntax error",
    ),
    (
        "unsupported-tag",
        """
        spec:
          steps: [{id: a, type: shell, run: »!!python/object:os.system echo}]
        """,
        "spec.steps[0].run",
        "unsupported YAML tag",
    ),
]


def test_unknown_project_credential_is_reported_only_when_names_are_given() -> None:
    text, line, column = locate(
        doc(
            """
            spec:
              credentials: [registry, »kube-prod]
              steps: [{id: a, type: shell, run: echo}]
            """
        )
    )
    [issue] = errors(text, credentials=["registry"])
    assert issue == SpecIssue(
        "spec.credentials[1]", line, column, "unknown credential 'kube-prod' (not in this project)"
    )
    assert parse_pipeline(text)["credentials"] == ["registry", "kube-prod"]
    assert parse_pipeline(text, credentials={"registry", "kube-prod", "other"})["credentials"] == [
        "registry",
        "kube-prod",
    ]


def test_all_errors_are_reported_at_once_in_document_order() -> None:
    text = doc(
        """
        spec:
          inputs: {n: {type: integer, default: x}}
          defaults: {timeout: soon}
          steps:
            - {id: a, type: shel, run: echo}
            - {id: b, type: shell, run: echo, needs: [zz]}
            - {id: b, type: shell, run: echo}
            - {id: c, type: shell, run: echo, if: "steps.b.outputs.nope"}
        """
    )
    found = errors(text)
    assert [e.path for e in found] == [
        "spec.inputs.n.default",
        "spec.defaults.timeout",
        "spec.steps[0].type",
        "spec.steps[1].needs[0]",
        "spec.steps[2].id",
        "spec.steps[3].if",
    ]
    assert [e.line for e in found] == sorted(e.line for e in found)  # type: ignore[type-var]


def test_issue_string_names_path_line_and_column() -> None:
    issue = SpecIssue("spec.steps[2].needs[0]", 14, 15, "unknown step 'biuld'")
    assert str(issue) == "spec.steps[2].needs[0] (line 14, column 15): unknown step 'biuld'"
    assert str(SpecIssue("", None, None, "document is empty")) == "(document): document is empty"


def test_non_utf8_bytes_are_located() -> None:
    data = doc("spec:\n  steps: [{id: a, type: shell, run: echo}]\n").encode()
    data = data.replace(b"run: echo", b"run: ec\xffho")
    [issue] = errors(data)
    fifth = data.split(b"\n")[4]
    assert (issue.line, issue.column) == (5, fifth.index(b"\xff") + 1)
    assert "not valid UTF-8" in issue.message


def test_document_larger_than_one_mib_is_refused() -> None:
    text = doc("spec:\n  steps: [{id: a, type: shell, run: echo}]\n") + "#" * (1024 * 1024)
    [issue] = errors(text)
    assert "larger than 1024 KiB" in issue.message


def test_deep_nesting_is_refused() -> None:
    text = doc(
        "spec:\n  steps: [{id: a, type: http, with: {url: 'http://x.test', json: " + "[" * 200 + "]" * 200 + "}}]\n"
    )
    [issue] = errors(text)
    assert "nested deeper than 64 levels" in issue.message
    assert issue.line == 5


def test_recursive_alias_is_refused() -> None:
    [issue] = errors("a: &a [*a]\n")
    assert "recursive alias" in issue.message


def test_multiple_documents_and_empty_documents_are_refused() -> None:
    assert "expected a single document" in errors("a: 1\n---\nb: 2\n")[0].message
    assert errors("   \n")[0].message == "document is empty"


@pytest.mark.parametrize(("case", "body", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_is_located(case: str, body: str, path: str, message: str) -> None:
    text = doc(body)
    if case == "api-version":
        text = text.replace("ansflow/v1", "»ansflow/v2")
    assert_error_at(text, path, message)
