"""The k8s.apply, k8s.delete and k8s.rollout step kinds in the pipeline language: defaults and located errors."""

from __future__ import annotations

import jsonschema
import pytest

from apps.pipelines.spec import pipeline_json_schema
from apps.pipelines.spec.loader import FAILED, load
from apps.pipelines.spec.report import Issues

from .spec_helpers import assert_error_at, doc, parse

INLINE = """
        spec:
          inputs: {replicas: {type: integer, default: 2}}
          steps:
            - id: deploy
              type: k8s.apply
              with:
                cluster: dev
                manifests: |
                  apiVersion: v1
                  kind: ConfigMap
                  metadata: {name: web}
                  data: {replicas: "{{ inputs.replicas }}"}
            - id: restart
              type: k8s.rollout
              needs: [deploy]
              with: {cluster: dev, deployment: web, action: restart}
            - id: clean
              type: k8s.delete
              needs: [restart]
              with: {cluster: dev, kind: ConfigMap, selector: app=web}
"""


def test_defaults_are_filled_in() -> None:
    steps = {step["id"]: step for step in parse(INLINE)["steps"]}
    apply = steps["deploy"]["with"]
    assert (apply["wait"], apply["force"], apply["template"], apply["namespace"]) == (True, False, False, None)
    assert apply["manifests"].startswith("apiVersion: v1\n")
    assert steps["deploy"]["outputs"] == ["applied", "objects"]
    assert steps["restart"]["with"]["wait"] is True
    assert steps["restart"]["outputs"] == ["revision"]
    delete = steps["clean"]["with"]
    assert (delete["wait"], delete["ignore_not_found"], delete["propagation"]) == (True, False, "Background")
    assert steps["clean"]["outputs"] == ["deleted"]


def test_wait_rollout_means_wait() -> None:
    body = """
        spec:
          steps:
            - {id: a, type: k8s.apply, with: {cluster: dev, path: deploy/, wait: rollout}}
            - {id: b, type: k8s.apply, with: {cluster: dev, path: deploy/, wait: false, template: true}}
    """
    steps = parse(body)["steps"]
    assert [step["with"]["wait"] for step in steps] == [True, False]
    assert steps[1]["with"]["template"] is True


CASES = [
    (
        "apply-needs-a-source",
        "- {id: a, type: k8s.apply, with: »{cluster: dev}}",
        "spec.steps[0].with",
        "set exactly one of `manifests` (inline objects) or `path` (files in the workspace)",
    ),
    (
        "apply-needs-a-cluster",
        "- {id: a, type: k8s.apply, with: »{path: x.yaml}}",
        "spec.steps[0].with",
        "'cluster'",
    ),
    (
        "apply-path-outside",
        "- {id: a, type: k8s.apply, with: {cluster: dev, path: »../x.yaml}}",
        "spec.steps[0].with.path",
        "must be a relative path inside the workspace",
    ),
    (
        "apply-broken-yaml",
        '- {id: a, type: k8s.apply, with: {cluster: dev, manifests: »"kind: [ConfigMap"}}',
        "spec.steps[0].with.manifests",
        "manifests is not valid YAML",
    ),
    (
        "apply-no-name",
        '- {id: a, type: k8s.apply, with: {cluster: dev, manifests: »"apiVersion: v1\\nkind: ConfigMap\\n"}}',
        "spec.steps[0].with.manifests",
        "manifests: ConfigMap needs `metadata.name` (generateName cannot be applied)",
    ),
    (
        "apply-second-document-without-kind",
        '- {id: a, type: k8s.apply, with: {cluster: dev, manifests: »"kind: A\\napiVersion: v1\\nmetadata: {name: a}'
        '\\n---\\napiVersion: v1\\nmetadata: {name: b}\\n"}}',
        "spec.steps[0].with.manifests",
        "manifests (document 2): `kind` is missing",
    ),
    (
        "apply-list-item-not-a-mapping",
        "- {id: a, type: k8s.apply, with: {cluster: dev, manifests: »[{apiVersion: v1, kind: List, items: [3]}]}}",
        "spec.steps[0].with.manifests",
        "manifests[0] item 1: a Kubernetes object must be a mapping, not int",
    ),
    (
        "apply-bad-wait",
        "- {id: a, type: k8s.apply, with: {cluster: dev, path: x, wait: »always}}",
        "spec.steps[0].with.wait",
        "",
    ),
    (
        "apply-template-without-path",
        "- {id: a, type: k8s.apply, with: {cluster: dev, manifests: [], template: »true}}",
        "spec.steps[0].with.template",
        "only applies to the files of `path`",
    ),
    (
        "delete-kind-needs-name-or-selector",
        "- {id: a, type: k8s.delete, with: {cluster: dev, kind: »Deployment}}",
        "spec.steps[0].with.kind",
        "needs exactly one of `name` or `selector`",
    ),
    (
        "delete-custom-kind-needs-api-version",
        "- {id: a, type: k8s.delete, with: {cluster: dev, kind: »Widget, name: w}}",
        "spec.steps[0].with.kind",
        "Widget is not a built-in kind: set `api_version` too",
    ),
    (
        "delete-name-without-kind",
        "- {id: a, type: k8s.delete, with: {cluster: dev, path: x, name: »w}}",
        "spec.steps[0].with.name",
        "only applies with `kind`",
    ),
    (
        "delete-bad-propagation",
        "- {id: a, type: k8s.delete, with: {cluster: dev, kind: Pod, name: p, propagation: »Now}}",
        "spec.steps[0].with.propagation",
        "",
    ),
    (
        "rollout-unknown-action",
        "- {id: a, type: k8s.rollout, with: {cluster: dev, deployment: web, action: »pause}}",
        "spec.steps[0].with.action",
        "",
    ),
    (
        "rollout-revision-only-for-undo",
        "- {id: a, type: k8s.rollout, with: {cluster: dev, deployment: web, action: restart, to_revision: »2}}",
        "spec.steps[0].with.to_revision",
        "only applies to `action: undo`",
    ),
]


@pytest.mark.parametrize(("case", "step", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_is_located(case: str, step: str, path: str, message: str) -> None:
    assert_error_at(doc("spec:\n  steps:\n    " + step + "\n"), path, message)


def test_templated_inline_manifests_are_checked_at_run_time_only() -> None:
    # `{{ }}` can stand for anything (a whole mapping, say), so the text is parsed once rendered.
    body = """
        spec:
          inputs: {doc: {type: string, default: "{}"}}
          steps:
            - {id: a, type: k8s.apply, with: {cluster: dev, manifests: "{{ inputs.doc }}"}}
    """
    assert parse(body)["steps"][0]["with"]["manifests"] == "{{ inputs.doc }}"


def test_the_json_schema_knows_the_kinds() -> None:
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    document = load(doc(INLINE), Issues())
    assert document is not FAILED
    assert list(validator.iter_errors(document)) == []
    document["spec"]["steps"][1]["with"]["action"] = "pause"
    assert [e.validator for e in validator.iter_errors(document)] != []
