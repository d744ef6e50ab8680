"""The k8s.job and helm step kinds in the pipeline language: defaults and located errors."""

from __future__ import annotations

import jsonschema
import pytest

from apps.pipelines.spec import pipeline_json_schema
from apps.pipelines.spec.loader import FAILED, load
from apps.pipelines.spec.report import Issues

from .spec_helpers import assert_error_at, doc, parse

BODY = """
        spec:
          inputs: {tag: {type: string, default: v1}}
          steps:
            - id: migrate
              type: k8s.job
              with:
                cluster: dev
                image: "registry.local/app:{{ inputs.tag }}"
                command: [./manage.py, migrate]
            - id: deploy
              type: helm
              needs: [migrate]
              with:
                cluster: dev
                action: upgrade
                install: true
                release: web
                chart: charts/web
                values: {image: {tag: "{{ inputs.tag }}"}}
                set: {replicas: 3}
            - id: back
              type: helm
              needs: [deploy]
              with: {cluster: dev, action: rollback, release: web, revision: 1}
            - id: show
              type: helm
              needs: [back]
              with: {cluster: dev, action: history, release: web}
"""


def test_defaults_are_filled_in() -> None:
    steps = {step["id"]: step for step in parse(BODY)["steps"]}
    job = steps["migrate"]["with"]
    assert (job["delete"], job["backoff_limit"], job["grace_period"], job["ttl"]) == ("always", 0, 5, None)
    assert (job["host_network"], job["args"], job["namespace"]) == (False, None, None)
    assert steps["migrate"]["outputs"] == ["exit_code", "job"]
    deploy = steps["deploy"]["with"]
    assert (deploy["wait"], deploy["atomic"], deploy["install"], deploy["values_files"]) == (True, False, True, [])
    assert deploy["set"] == {"replicas": 3}
    assert steps["deploy"]["outputs"] == ["revision", "status"]
    assert (steps["back"]["with"]["revision"], steps["back"]["with"]["wait"]) == (1, True)
    assert steps["show"]["with"]["wait"] is False


def test_durations_become_seconds() -> None:
    body = """
        spec:
          steps:
            - {id: a, type: k8s.job, with: {cluster: dev, image: x, delete: never, ttl: 1h, grace_period: 30s}}
    """
    job = parse(body)["steps"][0]["with"]
    assert (job["delete"], job["ttl"], job["grace_period"]) == ("never", 3600, 30)


CASES = [
    ("job-needs-image", "- {id: a, type: k8s.job, with: »{cluster: dev}}", "spec.steps[0].with", "image"),
    (
        "job-command-is-a-list",
        "- {id: a, type: k8s.job, with: {cluster: dev, image: x, command: »'echo hi'}}",
        "spec.steps[0].with.command",
        "",
    ),
    (
        "job-unknown-delete-policy",
        "- {id: a, type: k8s.job, with: {cluster: dev, image: x, delete: »sometimes}}",
        "spec.steps[0].with.delete",
        "",
    ),
    (
        "job-bad-grace-period",
        "- {id: a, type: k8s.job, with: {cluster: dev, image: x, grace_period: »soon}}",
        "spec.steps[0].with.grace_period",
        "invalid duration",
    ),
    (
        "job-run-refused",
        "- {id: a, type: k8s.job, »run: echo, with: {cluster: dev, image: x}}",
        "spec.steps[0].run",
        "",
    ),
    (
        "helm-install-needs-chart",
        "- {id: a, type: helm, with: »{cluster: dev, action: install, release: web}}",
        "spec.steps[0].with",
        "`install` needs `chart:`",
    ),
    (
        "helm-unknown-action",
        "- {id: a, type: helm, with: {cluster: dev, action: »template, release: web}}",
        "spec.steps[0].with.action",
        "",
    ),
    (
        "helm-bad-release-name",
        "- {id: a, type: helm, with: {cluster: dev, action: status, release: »Web_1}}",
        "spec.steps[0].with.release",
        "a release name is lower-case letters, digits and '-'",
    ),
    (
        "helm-chart-outside-the-workspace",
        "- {id: a, type: helm, with: {cluster: dev, action: install, release: web, chart: »../web}}",
        "spec.steps[0].with.chart",
        "must be a relative path inside the workspace",
    ),
    (
        "helm-values-only-for-install-and-upgrade",
        "- {id: a, type: helm, with: {cluster: dev, action: rollback, release: web, values: »{a: 1}}}",
        "spec.steps[0].with.values",
        "only install and upgrade take `values`",
    ),
    (
        "helm-revision-only-for-rollback",
        "- {id: a, type: helm, with: {cluster: dev, action: status, release: web, revision: »2}}",
        "spec.steps[0].with.revision",
        "only rollback takes `revision`",
    ),
    (
        "helm-set-key",
        "- {id: a, type: helm, with: {cluster: dev, action: install, release: w, chart: c, set: {»'a b': 1}}}",
        "spec.steps[0].with.set['a b']",
        "invalid key 'a b'",
    ),
]


@pytest.mark.parametrize(("case", "step", "path", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_is_located(case: str, step: str, path: str, message: str) -> None:
    assert_error_at(doc("spec:\n  steps:\n    " + step + "\n"), path, message)


def test_the_json_schema_knows_the_kinds() -> None:
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    document = load(doc(BODY), Issues())
    assert document is not FAILED
    assert list(validator.iter_errors(document)) == []
    document["spec"]["steps"][0]["with"]["delete"] = "sometimes"
    document["spec"]["steps"][1]["with"]["action"] = "template"
    assert len(list(validator.iter_errors(document))) == 2
