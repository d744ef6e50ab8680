"""Executions' permission policies, registered with accounts."""

from apps.accounts.permissions import register_policy

from .models import Approval, Execution, LogLine, StepAttempt, StepExecution
from .notifications import access as notification_access

EXECUTION_ACTIONS = {
    "view": "viewer",
    "cancel": "operator",
    "retry": "operator",
    "approve": "operator",
}


def register() -> None:
    notification_access.register()
    register_policy(Execution, project="project", actions=EXECUTION_ACTIONS)
    register_policy(StepExecution, project="execution__project", actions={"view": "viewer", "approve": "operator"})
    register_policy(StepAttempt, project="step__execution__project", actions={"view": "viewer"})
    register_policy(LogLine, project="execution__project", actions={"view": "viewer"})
    register_policy(Approval, project="step__execution__project", actions={"view": "viewer"})
