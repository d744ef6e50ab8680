"""Normalisation of valid documents: defaults, matrix expansion, needs expansion, step kinds, JSON Schema file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from apps.pipelines.spec import STEP_KINDS, parse_duration, parse_pipeline, pipeline_json_schema
from apps.pipelines.spec.loader import FAILED, load
from apps.pipelines.spec.report import Issues

from .spec_helpers import doc, parse

DESIGN_EXAMPLE = """\
apiVersion: ansflow/v1
kind: Pipeline
metadata: {name: web-deploy, project: shop, description: "Deploy the shop", labels: {team: web, tier: 1}}
spec:
  inputs:
    version: {type: string, required: true, pattern: '^v[0-9]+'}
    replicas: {type: integer, default: 2, minimum: 1}
  variables: {REGISTRY: registry.local:5000, DEBUG: false}
  credentials: [registry, kube-prod]
  concurrency: {group: "web-deploy-{{ inputs.version }}", limit: 1}
  defaults: {timeout: 10m, retry: {max: 1, on: [lost]}}
  steps:
    - id: unit
      type: shell
      run: pytest -q
      matrix: {py: ["3.11", "3.12"]}
      retry: {max: 2, backoff: 5s}
      timeout: 5m
    - id: build
      type: shell
      needs: [unit]
      run: ./build.sh
      env: {REG_PASS: {secret: registry.password}, TAG: "{{ vars.REGISTRY }}/web:{{ inputs.version }}"}
      outputs: [digest]
    - id: approve
      type: approval
      needs: [build]
      with: {approvers: {roles: [maintainer]}, min_approvals: 1, timeout: 1h, on_timeout: fail}
    - id: smoke
      type: http
      needs: [approve]
      with: {url: "http://web/health", expect_status: 200, outputs: {version: data.version}}
      on_failure: continue
    - id: report
      type: shell
      needs: [smoke]
      when: always
      if: "{{ steps.smoke.status == 'failed' or steps.smoke.outputs.version != steps.build.outputs.digest }}"
      run: echo "smoke failed"
"""


def test_design_example_normalises() -> None:
    spec = parse_pipeline(DESIGN_EXAMPLE, credentials=["registry", "kube-prod"])
    json.dumps(spec)  # JSON-serialisable
    assert spec["api_version"] == "ansflow/v1"
    assert (spec["name"], spec["project"], spec["description"]) == ("web-deploy", "shop", "Deploy the shop")
    assert spec["labels"] == {"team": "web", "tier": "1"}
    assert spec["variables"] == {"REGISTRY": "registry.local:5000", "DEBUG": "false"}
    assert spec["concurrency"] == {"group": "web-deploy-{{ inputs.version }}", "limit": 1, "cancel_in_progress": False}
    assert spec["inputs"]["replicas"] == {
        "type": "integer",
        "default": 2,
        "required": False,
        "pattern": None,
        "minimum": 1,
        "maximum": None,
        "enum": None,
        "description": "",
    }
    assert spec["defaults"] == {
        "timeout": 600.0,
        "retry": {"max": 1, "backoff": 0.0, "factor": 2.0, "max_backoff": None, "on": ["lost"]},
    }
    steps = {s["id"]: s for s in spec["steps"]}
    assert list(steps) == ["unit[py=3.11]", "unit[py=3.12]", "build", "approve", "smoke", "report"]
    unit = steps["unit[py=3.12]"]
    assert (unit["base_id"], unit["matrix"], unit["timeout"]) == ("unit", {"py": "3.12"}, 300.0)
    # the step's retry keys override the defaults' keys one by one
    assert unit["retry"] == {"max": 2, "backoff": 5.0, "factor": 2.0, "max_backoff": None, "on": ["lost"]}
    assert unit["matrix_group"] == {"max_parallel": None, "fail_fast": True}
    build = steps["build"]
    assert build["needs"] == ["unit[py=3.11]", "unit[py=3.12]"]
    assert build["env"] == {
        "REG_PASS": {"secret": "registry.password"},
        "TAG": "{{ vars.REGISTRY }}/web:{{ inputs.version }}",
    }
    assert (build["timeout"], build["matrix"], build["matrix_group"], build["when"]) == (600.0, {}, None, "on_success")
    assert steps["approve"]["with"] == {
        "approvers": {"roles": ["maintainer"], "users": []},
        "min_approvals": 1,
        "timeout": 3600.0,
        "on_timeout": "fail",
    }
    assert steps["approve"]["run"] is None
    smoke = steps["smoke"]
    assert (smoke["with"]["method"], smoke["with"]["expect_status"]) == ("GET", [200])
    assert (smoke["with"]["timeout"], smoke["with"]["retries"]) == (30.0, 0)
    assert smoke["outputs"] == ["version"]  # http's with.outputs declare outputs
    assert smoke["on_failure"] == "continue"
    report = steps["report"]
    assert (report["when"], report["if"].startswith("{{ steps.smoke.status")) == ("always", True)


def test_matrix_expands_in_axis_order_minus_exclude_plus_include() -> None:
    spec = parse(
        """
        spec:
          steps:
            - id: unit
              type: shell
              run: pytest
              matrix:
                py: ["3.11", "3.12"]
                os: [linux, mac]
                exclude: [{py: "3.11", os: mac}]
                include: [{py: "3.13", os: linux}, {py: "3.12", os: linux}]
                max_parallel: 2
                fail_fast: false
            - {id: lint, type: shell, run: ruff, matrix: {debug: [true, 1]}}
            - {id: done, type: shell, run: echo, needs: [unit, "lint[debug=true]"]}
        """
    )
    ids = [s["id"] for s in spec["steps"]]
    assert ids == [
        "unit[py=3.11,os=linux]",
        "unit[py=3.12,os=linux]",
        "unit[py=3.12,os=mac]",
        "unit[py=3.13,os=linux]",
        "lint[debug=true]",
        "lint[debug=1]",
        "done",
    ]
    assert spec["steps"][3]["matrix"] == {"py": "3.13", "os": "linux"}
    assert spec["steps"][0]["matrix_group"] == {"max_parallel": 2, "fail_fast": False}
    assert spec["steps"][-1]["needs"] == [*ids[:4], "lint[debug=true]"]


def test_needs_between_matrix_steps_wait_for_every_child() -> None:
    spec = parse(
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, matrix: {n: [1, 2]}}
            - {id: b, type: shell, run: echo, needs: [a], matrix: {m: [x, y]}}
        """
    )
    children = {s["id"]: s["needs"] for s in spec["steps"] if s["base_id"] == "b"}
    assert children == {"b[m=x]": ["a[n=1]", "a[n=2]"], "b[m=y]": ["a[n=1]", "a[n=2]"]}


def test_defaults_without_a_defaults_block() -> None:
    spec = parse("spec:\n  steps: [{id: a, type: shell, run: echo, retry: 3}]\n")
    assert spec["defaults"] == {
        "timeout": None,
        "retry": {"max": 0, "backoff": 0.0, "factor": 2.0, "max_backoff": None, "on": ["failed", "timed_out", "lost"]},
    }
    [step] = spec["steps"]
    assert (step["retry"]["max"], step["timeout"]) == (3, None)
    assert (spec["project"], spec["concurrency"], spec["labels"], spec["description"]) == (None, None, {}, "")
    assert (step["if"], step["on_failure"], step["outputs"], step["with"], step["env"]) == (None, "abort", [], {}, {})


def test_full_retry_policy_and_string_concurrency() -> None:
    spec = parse(
        """
        spec:
          concurrency: deploy
          steps:
            - id: a
              type: shell
              run: exit 3
              if: false
              retry: {max: 4, backoff: 1m30s, factor: 3, max_backoff: 10m, on: [timed_out, "exit:3"]}
        """
    )
    assert spec["concurrency"] == {"group": "deploy", "limit": 1, "cancel_in_progress": False}
    [step] = spec["steps"]
    assert step["if"] == "false"
    assert step["retry"] == {
        "max": 4,
        "backoff": 90.0,
        "factor": 3.0,
        "max_backoff": 600.0,
        "on": ["timed_out", "exit:3"],
    }


def test_anchors_and_merge_keys_with_extension_blocks() -> None:
    spec = parse(
        """
        x-shell: &shell {type: shell, timeout: 1m}
        spec:
          steps:
            - {<<: *shell, id: a, run: echo a}
            - {<<: *shell, id: b, run: echo b, timeout: 2m}
        """
    )
    assert [(s["type"], s["timeout"]) for s in spec["steps"]] == [("shell", 60.0), ("shell", 120.0)]


def test_upstream_reference_through_a_chain_is_allowed() -> None:
    spec = parse(
        """
        spec:
          steps:
            - {id: a, type: shell, run: echo, outputs: [v]}
            - {id: b, type: shell, run: echo, needs: [a]}
            - id: c
              type: http
              needs: [b]
              with:
                url: "https://x.test/{{ steps.a.outputs.v }}"
                json: {value: "{{ steps['a'].outputs['v'] | default('none') }}", n: 1}
                outputs: {id: "$.items[0].id"}
        """
    )
    assert spec["steps"][2]["with"]["json"] == {"value": "{{ steps['a'].outputs['v'] | default('none') }}", "n": 1}


def test_http_options_are_normalised() -> None:
    spec = parse(
        """
        spec:
          steps:
            - id: a
              type: http
              with: {method: post, url: "http://x.test", expect_status: [200, 201], timeout: 5, retries: 2}
        """
    )
    w = spec["steps"][0]["with"]
    assert (w["method"], w["expect_status"], w["timeout"], w["retries"]) == ("POST", [200, 201], 5.0, 2)
    default = parse("spec:\n  steps: [{id: a, type: http, with: {url: 'http://x.test'}}]\n")["steps"][0]["with"]
    assert default["expect_status"] == list(range(200, 300))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        (5, 5.0),
        (2.5, 2.5),
        ("30", 30.0),
        (" 1m ", 60.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10x", "m", "1m1m", "-5s", -1, True, None, "1.5.2s", "400d", [1]])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def test_saved_schema_file_matches_the_code() -> None:
    saved = json.loads((Path(__file__).parents[1] / "spec" / "pipeline.schema.json").read_text())
    assert saved == pipeline_json_schema()


def test_schema_accepts_the_example_and_rejects_unknown_keys() -> None:
    validator = jsonschema.Draft202012Validator(pipeline_json_schema())
    # AnsFlow's loader keeps keys such as `on` as strings (PyYAML's safe_load would turn `on` into True)
    document = load(DESIGN_EXAMPLE, Issues())
    assert document is not FAILED
    assert list(validator.iter_errors(document)) == []
    document["spec"]["steps"][0]["colour"] = "red"
    assert [e.validator for e in validator.iter_errors(document)] == ["additionalProperties"]


def test_every_step_kind_declares_its_with_schema() -> None:
    assert {"shell", "python", "http", "approval"} <= set(STEP_KINDS)
    for name, kind in STEP_KINDS.items():
        assert kind.name == name
        assert kind.run in ("required", "optional", "forbidden")
        jsonschema.Draft202012Validator.check_schema(kind.with_schema)
    assert STEP_KINDS["shell"].run == STEP_KINDS["python"].run == "required"


def test_bytes_with_bom_are_accepted() -> None:
    text = doc("spec:\n  steps: [{id: a, type: python, run: print(1)}]\n")
    assert parse_pipeline(b"\xef\xbb\xbf" + text.encode())["steps"][0]["run"] == "print(1)"


def test_reference_example_in_the_docs_is_valid() -> None:
    text = (Path(__file__).parents[3] / "docs" / "pipeline-spec.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_pipeline(example, credentials=["registry", "kube-prod"])
    assert [s["id"] for s in spec["steps"]] == ["unit[py=3.11]", "unit[py=3.12]", "build", "approve", "smoke", "report"]
