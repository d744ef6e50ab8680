"""Random DAGs: the engine's final states equal those of a simple reference evaluator."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.executions.engine.decide import StepView, ancestors_of, decide, execution_outcome

from .helpers import pipeline_yaml, run, statuses

WHENS = ["on_success", "on_failure", "always", "never"]
_names = itertools.count()


@st.composite
def dags(draw, max_steps: int = 7):
    count = draw(st.integers(1, max_steps))
    steps = []
    for i in range(count):
        needs = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        steps.append(
            {
                "id": f"s{i}",
                "needs": [f"s{n}" for n in needs],
                "when": draw(st.sampled_from(WHENS)),
                "on_failure": draw(st.sampled_from(["abort", "continue"])),
                "fails": draw(st.booleans()),
            }
        )
    return steps


def reference(steps: list[dict]) -> tuple[dict[str, str], str]:
    """Topological, recursive, and written without the engine's code."""
    status: dict[str, str] = {}
    by_id = {s["id"]: s for s in steps}

    def failed_hard(step_id: str) -> bool:
        return status[step_id] == "failed" and by_id[step_id]["on_failure"] == "abort"

    def upstream(step_id: str) -> set[str]:
        found: set[str] = set()
        for need in by_id[step_id]["needs"]:
            found |= {need} | upstream(need)
        return found

    for step in steps:  # declaration order is a topological order here
        needs_ok = all(
            status[n] == "success" or (status[n] == "failed" and by_id[n]["on_failure"] == "continue")
            for n in step["needs"]
        )
        runs = {
            "never": False,
            "always": True,
            "on_failure": any(failed_hard(a) for a in upstream(step["id"])),
            "on_success": needs_ok,
        }[step["when"]]
        status[step["id"]] = ("failed" if step["fails"] else "success") if runs else "skipped"
    outcome = "failed" if any(failed_hard(s) for s in status) else "success"
    return status, outcome


def simulate(steps: list[dict], order_seed: int) -> tuple[dict[str, str], str]:
    """Drive decide() as the scheduler does, finishing running steps in a seeded order."""
    views = {
        s["id"]: StepView(id=s["id"], status="pending", needs=s["needs"], when=s["when"], on_failure=s["on_failure"])
        for s in steps
    }
    for step_id, ancestors in ancestors_of(views).items():
        views[step_id].ancestors = ancestors
    outcome_of = {s["id"]: ("failed" if s["fails"] else "success") for s in steps}
    running: list[str] = []
    turn = order_seed
    while True:
        for view in views.values():
            if view.status == "pending":
                decision = decide(view, views)
                if decision.action == "run":
                    view.status = "running"
                    running.append(view.id)
                elif decision.action == "skip":
                    view.status = "skipped"
        if not running:
            break
        turn = (turn * 31 + 7) % 1000
        done = running.pop(turn % len(running))
        views[done].status = outcome_of[done]
    outcome = execution_outcome(views.values(), cancel_requested=False)
    assert outcome is not None, "every step must end"
    return {k: v.status for k, v in views.items()}, outcome


@given(dags(), st.integers(0, 999))
@settings(max_examples=300, deadline=None)
def test_scheduler_rules_match_the_reference(steps, seed):
    assert simulate(steps, seed) == reference(steps)


def to_yaml(steps: list[dict]) -> str:
    body = ""
    for s in steps:
        needs = f", needs: [{', '.join(s['needs'])}]" if s["needs"] else ""
        code = 1 if s["fails"] else 0
        body += (
            f"- {{id: {s['id']}, type: shell, when: {s['when']}, on_failure: {s['on_failure']}{needs}, "
            f"run: exit {code}}}\n"
        )
    return pipeline_yaml(f"random-{next(_names)}", body)


@pytest.mark.django_db(transaction=True)
@given(dags(max_steps=6))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_real_engine_matches_the_reference(celery_worker, steps):
    execution = run(to_yaml(steps))
    expected, outcome = reference(steps)
    assert statuses(execution) == expected
    assert execution.status == outcome
