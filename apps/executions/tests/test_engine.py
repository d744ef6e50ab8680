"""Engine semantics on a real Celery worker: DAG order, when/if, failures, outputs, matrix, retries."""

from __future__ import annotations

import pytest

from ansflow.testing import wait_until
from apps.executions.choices import StepStatus
from apps.executions.engine.runner import workspace_for
from apps.executions.models import StepAttempt, StepExecution
from apps.executions.services import approval_decide

from .helpers import log_text, pipeline_yaml, run, start, statuses, superuser, wait_done

pytestmark = pytest.mark.django_db(transaction=True)

S, F, K = StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.SKIPPED


@pytest.fixture(autouse=True)
def _worker(celery_worker):
    return celery_worker


def test_diamond_dag_runs_in_dependency_order_and_outputs_flow(tmp_path):
    order = tmp_path / "order"
    execution = run(
        pipeline_yaml(
            "diamond",
            f"""
            - id: a
              type: shell
              run: echo a >> {order}; echo "v=1" >> "$ANSFLOW_OUTPUT"
              outputs: [v]
            - id: b
              type: shell
              needs: [a]
              env: {{V: "{{{{ steps.a.outputs.v }}}}"}}
              run: echo "b$V" >> {order}; echo "::set-output w=2"
              outputs: [w]
            - id: c
              type: shell
              needs: [a]
              run: echo c >> {order}
            - id: d
              type: shell
              needs: [b, c]
              env: {{W: "{{{{ steps.b.outputs.w }}}}"}}
              run: echo "d$W" >> {order}
            """,
        )
    )
    assert execution.status == "success"
    lines = order.read_text().split()
    assert lines[0] == "a"
    assert lines[-1] == "d2"
    assert set(lines[1:3]) == {"b1", "c"}
    assert execution.steps.get(step_id="a").outputs == {"v": "1"}


WHEN_CASES = [
    # (upstream exit code, upstream on_failure, when, expected status of the downstream step)
    (0, "abort", "on_success", S),
    (1, "abort", "on_success", K),
    (0, "abort", "on_failure", K),
    (1, "abort", "on_failure", S),
    (0, "abort", "always", S),
    (1, "abort", "always", S),
    (0, "abort", "never", K),
    (1, "continue", "on_success", S),
    (1, "continue", "on_failure", K),
]


@pytest.mark.parametrize(("code", "on_failure", "when", "expected"), WHEN_CASES)
def test_when_and_on_failure(code, on_failure, when, expected):
    execution = run(
        pipeline_yaml(
            f"when-{when}-{code}-{on_failure}".replace("_", "-"),
            f"""
            - id: up
              type: shell
              run: exit {code}
              on_failure: {on_failure}
            - id: down
              type: shell
              needs: [up]
              when: {when}
              run: "true"
            """,
        )
    )
    assert statuses(execution)["down"] == expected
    upstream_failed_hard = code != 0 and on_failure == "abort"
    assert execution.status == ("failed" if upstream_failed_hard else "success")


def test_failure_propagates_skips_through_the_chain_but_not_to_independent_branches():
    execution = run(
        pipeline_yaml(
            "propagate",
            """
            - {id: a, type: shell, run: exit 3}
            - {id: b, type: shell, needs: [a], run: "true"}
            - {id: c, type: shell, needs: [b], run: "true"}
            - {id: cleanup, type: shell, needs: [c], when: on_failure, run: echo cleaning}
            - {id: other, type: shell, run: "true"}
            """,
        )
    )
    assert statuses(execution) == {"a": F, "b": K, "c": K, "cleanup": S, "other": S}
    assert execution.steps.get(step_id="a").exit_code == 3
    assert execution.status == "failed"
    assert "cleaning" in log_text(execution, "cleanup")


def test_if_reads_inputs_and_outputs():
    execution = run(
        pipeline_yaml(
            "conditions",
            """
            - id: probe
              type: shell
              run: echo "state=green" >> "$ANSFLOW_OUTPUT"
              outputs: [state]
            - {id: when-green, type: shell, needs: [probe], if: "steps.probe.outputs.state == 'green'", run: "true"}
            - {id: when-red, type: shell, needs: [probe], if: "{{ steps.probe.outputs.state == 'red' }}", run: "true"}
            - {id: when-flag, type: shell, if: "inputs.flag", run: "true"}
            """,
            extra="inputs: {flag: {type: boolean, default: false}}\n",
        ),
        inputs={"flag": "true"},
    )
    assert statuses(execution) == {"probe": S, "when-green": S, "when-red": K, "when-flag": S}


def test_a_skip_reaches_a_step_declared_before_the_step_it_needs():
    # b is declared first: the pass that skips a (its need x failed) must reach b after a, not before.
    execution = run(
        pipeline_yaml(
            "declared-out-of-order",
            """
            - {id: b, type: shell, needs: [a], run: 'true'}
            - {id: a, type: shell, needs: [x], run: 'true'}
            - {id: x, type: shell, run: exit 1}
            """,
        )
    )
    assert statuses(execution) == {"b": K, "a": K, "x": F}
    assert execution.status == "failed"


def test_matrix_with_exclude_expands_and_needs_wait_for_all_children(tmp_path):
    marker = tmp_path / "seen"
    execution = run(
        pipeline_yaml(
            "matrix",
            f"""
            - id: build
              type: shell
              matrix: {{os: [linux, mac], py: ["3.11", "3.12"], exclude: [{{os: mac, py: "3.11"}}]}}
              run: echo "$MATRIX_OS-$MATRIX_PY" >> {marker}
            - id: after
              type: shell
              needs: [build]
              run: test "$(wc -l < {marker})" -eq 3
            """,
        )
    )
    assert execution.status == "success", statuses(execution)
    assert sorted(statuses(execution)) == [
        "after", "build[os=linux,py=3.11]", "build[os=linux,py=3.12]", "build[os=mac,py=3.12]",
    ]  # fmt: skip


def test_matrix_max_parallel_never_exceeds_the_limit(tmp_path):
    running, peak = tmp_path / "running", tmp_path / "peak"
    execution = run(
        pipeline_yaml(
            "parallel",
            f"""
            - id: job
              type: shell
              matrix: {{n: [1, 2, 3, 4], max_parallel: 1}}
              run: |
                echo x >> {running}
                wc -l < {running} >> {peak}
                sleep 0.2
                : > {running}
            """,
        )
    )
    assert execution.status == "success"
    assert max(int(v) for v in peak.read_text().split()) == 1


def test_matrix_fail_fast_cancels_the_siblings():
    execution = run(
        pipeline_yaml(
            "failfast",
            """
            - id: job
              type: shell
              matrix: {n: [1, 2, 3], max_parallel: 1, fail_fast: true}
              run: exit 1
            """,
        )
    )
    states = statuses(execution)
    assert states["job[n=1]"] == F
    assert states["job[n=2]"] == states["job[n=3]"] == StepStatus.CANCELED
    assert execution.status == "failed"


def test_retry_counts_and_reasons():
    execution = run(
        pipeline_yaml(
            "retries",
            """
            - {id: flaky, type: shell, run: exit 4, retry: {max: 2, on: ["exit:4"]}}
            - {id: other-code, type: shell, run: exit 5, retry: {max: 2, on: ["exit:4"]}}
            - {id: later-ok, type: shell, run: 'test "$ANSFLOW_ATTEMPT" -ge 2', retry: {max: 3, backoff: 0.1s}}
            """,
        )
    )
    attempts = {s.step_id: s.attempt for s in execution.steps.all()}
    assert attempts == {"flaky": 3, "other-code": 1, "later-ok": 2}
    assert statuses(execution) == {"flaky": F, "other-code": F, "later-ok": S}
    history = list(StepAttempt.objects.filter(step__step_id="flaky").values_list("number", "status", "exit_code"))
    assert history == [(1, F, 4), (2, F, 4), (3, F, 4)]


def test_undeclared_output_fails_the_step():
    execution = run(pipeline_yaml("undeclared", """- {id: a, type: shell, run: echo "x=1" >> "$ANSFLOW_OUTPUT"}"""))
    step = execution.steps.get()
    assert step.status == F
    assert "undeclared outputs: x" in step.error


def test_python_step_runs_a_script_with_inputs_in_the_environment():
    execution = run(
        pipeline_yaml(
            "python",
            """
            - id: py
              type: python
              run: |
                import os
                print("sum", int(os.environ["INPUT_A"]) + 1)
            """,
            extra="inputs: {a: {type: integer, default: 41}}\n",
        )
    )
    assert execution.status == "success"
    assert log_text(execution) == ["sum 42"]


def test_hostile_input_values_are_data_not_code(tmp_path):
    canary = tmp_path / "canary"
    hostile = f"$(touch {canary}); `touch {canary}` ' \" \n; touch {canary}"
    execution = run(
        pipeline_yaml(
            "hostile",
            """
            - {id: echo, type: shell, run: 'printf "%s" "$INPUT_V"'}
            """,
            extra="inputs: {v: {type: string}}\n",
        ),
        inputs={"v": hostile},
    )
    assert execution.status == "success"
    assert not canary.exists()
    assert "\n".join(log_text(execution)) == hostile


def test_a_failed_step_keeps_its_declared_outputs_for_its_successors():
    execution = run(
        pipeline_yaml(
            "failed-outputs",
            """
            - id: probe
              type: shell
              run: echo "reason=disk full" >> "$ANSFLOW_OUTPUT"; echo "noise=1" >> "$ANSFLOW_OUTPUT"; exit 1
              outputs: [reason]
            - id: report
              type: shell
              needs: [probe]
              when: on_failure
              env: {REASON: "{{ steps.probe.outputs.reason }}"}
              run: 'echo "probe failed: $REASON"'
            """,
        )
    )
    probe = execution.steps.get(step_id="probe")
    assert probe.status == F
    assert probe.outputs == {"reason": "disk full"}
    assert log_text(execution, "report") == ["probe failed: disk full"]


def test_an_old_workspace_with_the_same_execution_id_lends_no_outputs():
    # A database re-created beside old workspaces hands out ids whose workspaces hold files of earlier runs:
    # the file is planted while the run waits at its gate, before the step that could read it starts.
    gated = """
    - id: gate
      type: approval
      with: {approvers: {roles: [maintainer]}, min_approvals: 1}
    - {id: quiet, type: shell, needs: [gate], run: 'true', outputs: [v]}
    """
    execution = start(pipeline_yaml("stale", gated))
    waiting = StepExecution.objects.filter(execution=execution, step_id="gate", status="waiting")
    gate = wait_until(waiting.first)
    (workspace_for(execution.pk) / ".ansflow" / "quiet-1.outputs").write_text("v=stale\n")
    approval_decide(actor=superuser(), step=gate, decision="approve")
    execution = wait_done(execution)
    assert execution.status == "success"
    assert execution.steps.get(step_id="quiet").outputs == {}


def test_steps_that_run_the_same_script_share_its_file_and_each_runs_its_own_script():
    steps = """
    - {id: a, type: shell, run: 'echo "ran $ANSFLOW_STEP_ID"'}
    - {id: b, type: shell, run: 'echo "ran $ANSFLOW_STEP_ID"'}
    - {id: c, type: shell, needs: [a], run: 'echo "ran $ANSFLOW_STEP_ID"'}
    - {id: d, type: shell, run: 'echo "ünïcode $ANSFLOW_STEP_ID"'}
    """
    execution = run(pipeline_yaml("shared-script", steps))
    assert execution.status == "success"
    assert {step: log_text(execution, step) for step in "abcd"} == {
        "a": ["ran a"], "b": ["ran b"], "c": ["ran c"], "d": ["ünïcode d"]
    }  # fmt: skip
    internal = workspace_for(execution.pk) / ".ansflow"
    scripts = sorted(path.read_text(encoding="utf-8") for path in internal.glob("script-*.sh"))
    assert scripts == ['echo "ran $ANSFLOW_STEP_ID"', 'echo "ünïcode $ANSFLOW_STEP_ID"']
    assert not [path.name for path in internal.iterdir() if path.name.startswith(".")], "a file written aside was left"
