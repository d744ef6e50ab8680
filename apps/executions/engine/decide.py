"""Pure scheduling decisions: given the steps' states, what happens to each pending step.

No database here, so the rules can be tested exhaustively against a reference
evaluator. The scheduler applies these decisions under the execution's row lock.

Rules (DESIGN.md §3): a step waits until every need is finished; then
``when: on_success`` (default) runs only if every need succeeded (a failure with
``on_failure: continue`` counts as success; a skipped need does not);
``on_failure`` runs only if something upstream failed; ``always`` runs once its
needs finished; ``never`` is skipped. An ``if`` that is false skips the step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..choices import StepStatus

TERMINAL = StepStatus.terminal()
FAILURES = StepStatus.failures()


@dataclass
class StepView:
    """What the decision needs to know about one step."""

    id: str
    status: str
    needs: list[str]
    when: str = "on_success"
    on_failure: str = "abort"
    base_id: str = ""
    max_parallel: int | None = None
    fail_fast: bool = False
    ancestors: frozenset[str] = field(default_factory=frozenset)


def hard_failed(step: StepView) -> bool:
    """A failure that fails the execution and blocks ``on_success`` steps downstream."""
    return step.status in FAILURES and step.on_failure != "continue"


def need_ok(step: StepView) -> bool:
    return step.status == StepStatus.SUCCESS or (step.status in FAILURES and step.on_failure == "continue")


def ancestors_of(steps: Mapping[str, StepView]) -> dict[str, frozenset[str]]:
    """Transitive needs of every step (the spec guarantees the graph is acyclic)."""
    memo: dict[str, frozenset[str]] = {}

    def visit(step_id: str) -> frozenset[str]:
        if step_id not in memo:
            result: set[str] = set()
            for need in steps[step_id].needs:
                result.add(need)
                result |= visit(need)
            memo[step_id] = frozenset(result)
        return memo[step_id]

    for step_id in steps:
        visit(step_id)
    return memo


@dataclass(frozen=True)
class Decision:
    """``action`` is "run", "skip", "cancel" or "wait"; ``reason`` explains a skip or cancel."""

    action: str
    reason: str = ""


WAIT = Decision("wait")
RUN = Decision("run")


def decide(step: StepView, steps: Mapping[str, StepView], cancel_requested: bool = False) -> Decision:
    """Decide one pending step (its ``if`` expression is evaluated by the caller after "run")."""
    if cancel_requested:
        return Decision("cancel", "execution canceled")
    needs = [steps[need] for need in step.needs]
    if any(need.status not in TERMINAL for need in needs):
        return WAIT
    if step.when == "never":
        return Decision("skip", "when: never")
    if step.fail_fast and step.base_id:
        for other in steps.values():
            if other.base_id == step.base_id and other.id != step.id and hard_failed(other):
                return Decision("cancel", f"fail_fast: {other.id} {other.status}")
    if step.when == "always":
        outcome = RUN
    elif step.when == "on_failure":
        upstream_failed = any(hard_failed(steps[a]) for a in step.ancestors)
        outcome = RUN if upstream_failed else Decision("skip", "when: on_failure and nothing upstream failed")
    else:
        blocking = [need.id for need in needs if not need_ok(need)]
        outcome = RUN if not blocking else Decision("skip", f"needs not successful: {', '.join(blocking)}")
    if outcome is RUN and step.max_parallel and step.base_id:
        active = sum(
            1
            for other in steps.values()
            if other.base_id == step.base_id and other.status in (StepStatus.QUEUED, StepStatus.RUNNING)
        )
        if active >= step.max_parallel:
            return WAIT
    return outcome


def execution_outcome(steps: Iterable[StepView], cancel_requested: bool) -> str | None:
    """The execution's final status once every step is finished, else None."""
    views = list(steps)
    if any(step.status not in TERMINAL for step in views):
        return None
    if cancel_requested:
        return "canceled"
    if any(hard_failed(step) for step in views):
        return "failed"
    return "success"
